"""Fixtures for the Stripe tests: the fake on a loopback socket, the action wired to it through
stripe-python, a stub resolver and ``run``, which executes inside a request context.

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.stripe.create_payment_intent import (
    METADATA,
    StripeCreatePaymentIntentIntegration,
)
from integrations.stripe.testing import FakeStripe
from support.integrations import Run, http_clients, runner
from support.resolvers import StubResolver

API_KEY = "sk_test_51Hx9vKfAkeKeyForTestsOnly0123456789abcdef"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000b2"


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
    async with http_clients("stripe", base_url=fake.url, timeout_s=5.0) as pool:
        yield pool


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
    return runner(action, METADATA, resolver, logger, BOT_ID)
