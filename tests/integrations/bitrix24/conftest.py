"""Fixtures for the Bitrix24 tests: the fake portal on a loopback socket, the action, a stub
resolver holding the fake's webhook URL, and ``run`` (execute inside a request context).

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from integrations.bitrix24.add_lead import METADATA, Bitrix24AddLeadIntegration
from integrations.bitrix24.fake import FakeBitrix24
from integrations.bot_logger import BotLogger
from integrations.context import RequestContext, executing
from integrations.http import HttpClients
from processors.settings import EndpointSettings

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000c3"

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
    pool = HttpClients({"bitrix24": EndpointSettings(timeout_s=5.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> Bitrix24AddLeadIntegration:
    return Bitrix24AddLeadIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.bitrix24", bot_id=BOT_ID, integration_id="bitrix24_add_lead")


@pytest.fixture
def run(action: Bitrix24AddLeadIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as attempt ``attempt`` of request ``key``."""

    async def _run(
        config: dict[str, Any],
        *,
        key: str = "req-0001",
        attempt: int = 1,
        integration: Bitrix24AddLeadIntegration | None = None,
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
