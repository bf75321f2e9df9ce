"""Fixtures for the YooKassa tests: the fake on a loopback socket, the action wired to it, a stub
resolver and ``run``, which executes the action inside a request context (as the processor does).

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.context import RequestContext, executing
from integrations.http import HttpClients
from integrations.yookassa.create_payment import METADATA, YooKassaCreatePaymentIntegration
from integrations.yookassa.fake import FakeYooKassa
from processors.settings import EndpointSettings

SHOP_ID = "123456"
SECRET = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000a1"

Run = Callable[..., Awaitable[dict[str, Any]]]


class StubResolver:
    """The seed's ``get_default_for`` over one bot's credentials; records calls."""

    def __init__(self, credentials: dict[str, Any] | None) -> None:
        self.credentials = credentials
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials


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
    pool = HttpClients({"yookassa": EndpointSettings(base_url=fake.base_url, timeout_s=5.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> YooKassaCreatePaymentIntegration:
    return YooKassaCreatePaymentIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.yookassa", bot_id=BOT_ID, integration_id="yookassa_create_payment")


@pytest.fixture
def run(action: YooKassaCreatePaymentIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as request ``key`` (its idempotency key)."""

    async def _run(
        config: dict[str, Any],
        *,
        key: str = "req-0001",
        attempt: int = 1,
        integration: YooKassaCreatePaymentIntegration | None = None,
        credentials: StubResolver | None = None,
    ) -> dict[str, Any]:
        METADATA.validate_config(config)
        context = RequestContext(
            request_id=key, bot_id=BOT_ID, idempotency_key=key, attempt=attempt
        )
        with executing(context):
            return await (integration or action).execute(
                config, credentials or resolver, BOT_ID, logger
            )

    return _run


@pytest.fixture
def secrets() -> tuple[str, ...]:
    return (SECRET,)
