"""Fixtures for the Google Translate tests: the fake over loopback, clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.googletranslate.fake import FakeGoogleTranslate
from integrations.googletranslate.translate import GoogleTranslateTranslateIntegration
from integrations.http import HttpClients
from processors.settings import EndpointSettings

API_KEY = "AIzaSyFAKE-translate-key-0123456789abc"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000e001"


class StubResolver:
    """The seed's ``get_default_for`` over a dict of bot_id -> credentials; records calls."""

    def __init__(self, credentials: dict[str, dict[str, Any]] | None = None) -> None:
        self.credentials = (
            credentials if credentials is not None else {BOT_ID: {"api_key": API_KEY}}
        )
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials.get(str(bot_id))


@pytest.fixture
async def fake() -> AsyncIterator[FakeGoogleTranslate]:
    async with FakeGoogleTranslate(api_keys=[API_KEY]) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeGoogleTranslate) -> AsyncIterator[HttpClients]:
    pool = HttpClients({"googletranslate": EndpointSettings(base_url=fake.url, timeout_s=2.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> GoogleTranslateTranslateIntegration:
    return GoogleTranslateTranslateIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver()


@pytest.fixture
def make_resolver() -> type[StubResolver]:
    return StubResolver


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
