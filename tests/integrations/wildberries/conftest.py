"""Fixtures for the Wildberries tests: the fake over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.wildberries.fake import FakeWildberries
from integrations.wildberries.get_stocks import WildberriesGetStocksIntegration
from processors.settings import EndpointSettings

# Shaped like a real WB token (a JWT), so the log redaction is tested on the real format.
TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjUwMSJ9.eyJzaWQiOiJmYWtlLXNlbGxlciJ9.c2lnbmF0dXJl"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000b001"
WAREHOUSE = 507


class StubResolver:
    """The seed's ``get_default_for`` over a dict of bot_id -> credentials; records calls."""

    def __init__(self, credentials: dict[str, dict[str, Any]] | None = None) -> None:
        self.credentials = credentials if credentials is not None else {BOT_ID: {"token": TOKEN}}
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials.get(str(bot_id))


@pytest.fixture
async def fake() -> AsyncIterator[FakeWildberries]:
    async with FakeWildberries(tokens=[TOKEN]) as server:
        server.set_stock(WAREHOUSE, chrt_id=12345678, amount=10)
        server.set_stock(WAREHOUSE, chrt_id=12345679, amount=0)
        yield server


@pytest.fixture
async def clients(fake: FakeWildberries) -> AsyncIterator[HttpClients]:
    pool = HttpClients({"wildberries": EndpointSettings(base_url=fake.url, timeout_s=2.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> WildberriesGetStocksIntegration:
    return WildberriesGetStocksIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver()


@pytest.fixture
def make_resolver() -> type[StubResolver]:
    return StubResolver


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.wildberries", bot_id=BOT_ID, integration_id="wildberries_get_stocks")


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def bot_id() -> str:
    return BOT_ID


@pytest.fixture
def warehouse() -> int:
    return WAREHOUSE
