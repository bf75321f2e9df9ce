"""Fixtures for the Google Maps tests: the fake over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.googlemaps.fake import FakeGoogleMaps
from integrations.googlemaps.geocode import GoogleMapsGeocodeIntegration
from integrations.http import HttpClients
from processors.settings import EndpointSettings

API_KEY = "AIzaSyFAKE-googlemaps-key-0123456789abc"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000a001"


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
async def fake() -> AsyncIterator[FakeGoogleMaps]:
    async with FakeGoogleMaps(api_keys=[API_KEY]) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeGoogleMaps) -> AsyncIterator[HttpClients]:
    pool = HttpClients({"googlemaps": EndpointSettings(base_url=fake.url, timeout_s=2.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> GoogleMapsGeocodeIntegration:
    return GoogleMapsGeocodeIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver()


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.googlemaps", bot_id=BOT_ID, integration_id="googlemaps_geocode")


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID


@pytest.fixture
def make_resolver() -> type[StubResolver]:
    """The stub class, for tests that need other credentials (``make_resolver({})``)."""
    return StubResolver
