"""The Stripe tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.http import HttpClients
from integrations.stripe.create_payment_intent import StripeCreatePaymentIntentIntegration
from integrations.stripe.testing import CONTRACT
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> StripeCreatePaymentIntentIntegration:
    return StripeCreatePaymentIntentIntegration(clients)
