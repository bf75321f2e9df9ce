"""Fixtures for the NewsAPI tests: the fake API, clients pointed at it, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.newsapi.testing import FakeNewsAPI
from integrations.newsapi.top_headlines import NewsAPITopHeadlinesIntegration
from support.integrations import http_clients
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-00000000ae55"
API_KEY = "7d3f9a1c5e8b4d2fa6c0e9b1d4f7a2c8"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNewsAPI]:
    async with FakeNewsAPI(api_keys={API_KEY}) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeNewsAPI) -> AsyncIterator[HttpClients]:
    async with http_clients("newsapi", base_url=fake.url) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> NewsAPITopHeadlinesIntegration:
    return NewsAPITopHeadlinesIntegration(clients)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({"api_key": API_KEY})


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.newsapi", bot_id=BOT_ID, integration_id="newsapi_top_headlines")


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
