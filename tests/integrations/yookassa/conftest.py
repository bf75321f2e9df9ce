"""Fixtures for the YooKassa tests: the fake on a loopback socket, the action wired to it, a stub
resolver and ``run``, which executes the action inside a request context (as the processor does).

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.yookassa.create_payment import METADATA, YooKassaCreatePaymentIntegration
from integrations.yookassa.testing import FakeYooKassa
from support.integrations import Run, http_clients, runner
from support.resolvers import StubResolver

SHOP_ID = "123456"
SECRET = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000a1"


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({"shop_id": SHOP_ID, "secret_key": SECRET})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
async def fake() -> AsyncIterator[FakeYooKassa]:
    async with FakeYooKassa(shop_id=SHOP_ID, secret_key=SECRET) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeYooKassa) -> AsyncIterator[HttpClients]:
    async with http_clients("yookassa", base_url=fake.base_url, timeout_s=5.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> YooKassaCreatePaymentIntegration:
    return YooKassaCreatePaymentIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.yookassa", bot_id=BOT_ID, integration_id="yookassa_create_payment")


@pytest.fixture
def run(action: YooKassaCreatePaymentIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as request ``key`` (its idempotency key)."""
    return runner(action, METADATA, resolver, logger, BOT_ID)
