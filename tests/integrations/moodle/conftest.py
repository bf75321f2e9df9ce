"""Fixtures for the Moodle tests: a fake site over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.moodle.fake import FakeMoodle
from integrations.moodle.send_message import MoodleSendMessageIntegration
from processors.settings import EndpointSettings

TOKEN = "5f4dcc3b5aa765d61d8327deb882cf99"  # Moodle tokens are 32 hex chars
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000c001"


class StubResolver:
    """The seed's ``get_default_for`` over a dict of bot_id -> credentials; records calls."""

    def __init__(self, credentials: dict[str, dict[str, Any]]) -> None:
        self.credentials = credentials
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials.get(str(bot_id))


@pytest.fixture
async def fake() -> AsyncIterator[FakeMoodle]:
    async with FakeMoodle(accept_any_token=False) as server:
        server.add_token(TOKEN, user_id=2)
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[HttpClients]:
    pool = HttpClients({"moodle": EndpointSettings(timeout_s=2.0)})  # the URL is per site
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> MoodleSendMessageIntegration:
    return MoodleSendMessageIntegration(clients)


@pytest.fixture
def resolver(fake: FakeMoodle) -> StubResolver:
    return StubResolver({BOT_ID: {"site_url": fake.url, "token": TOKEN}})


@pytest.fixture
def make_resolver() -> type[StubResolver]:
    return StubResolver


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.moodle", bot_id=BOT_ID, integration_id="moodle_send_message")


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
