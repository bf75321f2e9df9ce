"""Fixtures for the OpenAI tests: the fake API, clients pointed at it, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.openai.chat_completion import OpenAIChatCompletionIntegration
from integrations.openai.fake import FakeOpenAI
from processors.settings import EndpointSettings

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000a1a1a"
API_KEY = "sk-proj-Vd3kX9qL2mT7wR4yB8nF1cH6jP0sA5eZuG3iK7oQ2vW9xY4t"


class StubResolver:
    """The seed's ``get_default_for`` over bot_id -> credentials; records calls."""

    def __init__(self, credentials: dict[str, dict[str, Any]]) -> None:
        self.credentials = credentials
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials.get(str(bot_id))


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_keys={API_KEY}) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeOpenAI) -> AsyncIterator[HttpClients]:
    http = HttpClients({"openai": EndpointSettings(base_url=fake.url)})
    yield http
    await http.aclose()


@pytest.fixture
def action(clients: HttpClients) -> OpenAIChatCompletionIntegration:
    return OpenAIChatCompletionIntegration(clients)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    return StubResolver


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({BOT_ID: {"api_key": API_KEY}})


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.openai", bot_id=BOT_ID, integration_id="openai_chat_completion")


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
