"""Fixtures for the OpenAI tests: the fake API, clients pointed at it, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.openai.chat_completion import OpenAIChatCompletionIntegration
from integrations.openai.testing import FakeOpenAI
from support.integrations import http_clients
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000a1a1a"
API_KEY = "sk-proj-Vd3kX9qL2mT7wR4yB8nF1cH6jP0sA5eZuG3iK7oQ2vW9xY4t"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_keys={API_KEY}) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeOpenAI) -> AsyncIterator[HttpClients]:
    async with http_clients("openai", base_url=fake.url) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> OpenAIChatCompletionIntegration:
    return OpenAIChatCompletionIntegration(clients)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    """For other credentials, per bot (``make_resolver({})``: none for any bot)."""
    return StubResolver.per_bot


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver.per_bot({BOT_ID: {"api_key": API_KEY}})


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.openai", bot_id=BOT_ID, integration_id="openai_chat_completion")


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
