"""Fixtures for the Moodle tests: a fake site over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.moodle.send_message import MoodleSendMessageIntegration
from integrations.moodle.testing import FakeMoodle
from support.integrations import http_clients
from support.resolvers import StubResolver

TOKEN = "5f4dcc3b5aa765d61d8327deb882cf99"  # Moodle tokens are 32 hex chars
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000c001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMoodle]:
    async with FakeMoodle(accept_any_token=False) as server:
        server.add_token(TOKEN, user_id=2)
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[HttpClients]:
    async with http_clients("moodle", timeout_s=2.0) as pool:  # the URL is per site
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> MoodleSendMessageIntegration:
    return MoodleSendMessageIntegration(clients)


@pytest.fixture
def resolver(fake: FakeMoodle) -> StubResolver:
    return StubResolver.per_bot({BOT_ID: {"site_url": fake.url, "token": TOKEN}})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    """For other credentials, per bot (``make_resolver({})``: none for any bot)."""
    return StubResolver.per_bot


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.moodle", bot_id=BOT_ID, integration_id="moodle_send_message")


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
