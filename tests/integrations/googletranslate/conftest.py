"""Fixtures for the Google Translate tests: the fake over loopback, clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.googletranslate.testing import FakeGoogleTranslate
from integrations.googletranslate.translate import GoogleTranslateTranslateIntegration
from integrations.http import HttpClients
from support.integrations import http_clients
from support.resolvers import StubResolver

API_KEY = "AIzaSyFAKE-translate-key-0123456789abc"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000e001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGoogleTranslate]:
    async with FakeGoogleTranslate(api_keys=[API_KEY]) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeGoogleTranslate) -> AsyncIterator[HttpClients]:
    async with http_clients("googletranslate", base_url=fake.url, timeout_s=2.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> GoogleTranslateTranslateIntegration:
    return GoogleTranslateTranslateIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver.per_bot({BOT_ID: {"api_key": API_KEY}})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    """For other credentials, per bot (``make_resolver({})``: none for any bot)."""
    return StubResolver.per_bot


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger(
        "tests.googletranslate", bot_id=BOT_ID, integration_id="googletranslate_translate"
    )


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
