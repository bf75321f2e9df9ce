"""Fixtures for the OpenWeatherMap tests: the fake API, clients pointed at it, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.openweathermap.current_weather import OpenWeatherMapCurrentWeatherIntegration
from integrations.openweathermap.testing import FakeOpenWeatherMap
from support.integrations import http_clients
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000a0e11"
API_KEY = "b1b15e88fa797225412429c1c50c122a"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenWeatherMap]:
    async with FakeOpenWeatherMap(api_keys={API_KEY}) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeOpenWeatherMap) -> AsyncIterator[HttpClients]:
    async with http_clients("openweathermap", base_url=fake.url) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> OpenWeatherMapCurrentWeatherIntegration:
    return OpenWeatherMapCurrentWeatherIntegration(clients)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({"api_key": API_KEY})


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger(
        "tests.openweathermap", bot_id=BOT_ID, integration_id="openweathermap_current_weather"
    )


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
