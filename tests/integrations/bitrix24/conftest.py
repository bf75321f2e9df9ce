"""Fixtures for the Bitrix24 tests: the fake portal on a loopback socket, the action, a stub
resolver holding the fake's webhook URL, and ``run`` (execute inside a request context).

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bitrix24.add_lead import METADATA, Bitrix24AddLeadIntegration
from integrations.bitrix24.testing import FakeBitrix24
from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from support.integrations import Run, http_clients, runner
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000c3"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBitrix24]:
    async with FakeBitrix24() as server:
        yield server


@pytest.fixture
def secret(fake: FakeBitrix24) -> str:
    """The fake webhook's secret (what must never be logged)."""
    return fake.webhook_url().rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture
def resolver(fake: FakeBitrix24) -> StubResolver:
    return StubResolver({"webhook_url": fake.webhook_url()})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
async def clients() -> AsyncIterator[HttpClients]:
    async with http_clients("bitrix24", timeout_s=5.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> Bitrix24AddLeadIntegration:
    return Bitrix24AddLeadIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.bitrix24", bot_id=BOT_ID, integration_id="bitrix24_add_lead")


@pytest.fixture
def run(action: Bitrix24AddLeadIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as attempt ``attempt`` of request ``key``."""
    return runner(action, METADATA, resolver, logger, BOT_ID)
