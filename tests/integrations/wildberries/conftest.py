"""Fixtures for the Wildberries tests: the fake over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.wildberries.get_stocks import WildberriesGetStocksIntegration
from integrations.wildberries.testing import FakeWildberries
from support.integrations import http_clients
from support.resolvers import StubResolver

# Shaped like a real WB token (a JWT), so the log redaction is tested on the real format.
TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjUwMSJ9.eyJzaWQiOiJmYWtlLXNlbGxlciJ9.c2lnbmF0dXJl"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000b001"
WAREHOUSE = 507


@pytest.fixture
async def fake() -> AsyncIterator[FakeWildberries]:
    async with FakeWildberries(tokens=[TOKEN]) as server:
        server.set_stock(WAREHOUSE, chrt_id=12345678, amount=10)
        server.set_stock(WAREHOUSE, chrt_id=12345679, amount=0)
        yield server


@pytest.fixture
async def clients(fake: FakeWildberries) -> AsyncIterator[HttpClients]:
    async with http_clients("wildberries", base_url=fake.url, timeout_s=2.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> WildberriesGetStocksIntegration:
    return WildberriesGetStocksIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver.per_bot({BOT_ID: {"token": TOKEN}})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    """For other credentials, per bot (``make_resolver({})``: none for any bot)."""
    return StubResolver.per_bot


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
