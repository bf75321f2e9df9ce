"""Fixtures for the Stripe tests: the fake on a loopback socket, the action wired to it through
stripe-python, a stub resolver and ``run``, which executes inside a request context.

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
from integrations.stripe.create_payment_intent import (
    METADATA,
    StripeCreatePaymentIntentIntegration,
)
from integrations.stripe.fake import FakeStripe
from processors.settings import EndpointSettings

API_KEY = "sk_test_51Hx9vKfAkeKeyForTestsOnly0123456789abcdef"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000b2"

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
    return StubResolver({"api_key": API_KEY})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with FakeStripe(api_keys=(API_KEY,)) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeStripe) -> AsyncIterator[HttpClients]:
    pool = HttpClients({"stripe": EndpointSettings(base_url=fake.url, timeout_s=5.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> StripeCreatePaymentIntentIntegration:
    return StripeCreatePaymentIntentIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.stripe", bot_id=BOT_ID, integration_id="stripe_create_payment_intent")


@pytest.fixture
def run(
    action: StripeCreatePaymentIntentIntegration, resolver: StubResolver, logger: BotLogger
) -> Run:
    """Validate ``config`` and execute it as request ``key`` (its idempotency key)."""

    async def _run(
        config: dict[str, Any],
        *,
        key: str = "req-0001",
        integration: StripeCreatePaymentIntentIntegration | None = None,
        credentials: StubResolver | None = None,
    ) -> dict[str, Any]:
        METADATA.validate_config(config)
        context = RequestContext(request_id=key, bot_id=BOT_ID, idempotency_key=key)
        with executing(context):
            return await (integration or action).execute(
                config, credentials or resolver, BOT_ID, logger
            )

    return _run
