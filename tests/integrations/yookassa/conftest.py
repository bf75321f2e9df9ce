"""The YooKassa tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.http import HttpClients
from integrations.testing import ContractSubject
from integrations.yookassa.create_payment import YooKassaCreatePaymentIntegration
from integrations.yookassa.testing import CONTRACT


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> YooKassaCreatePaymentIntegration:
    return YooKassaCreatePaymentIntegration(clients)


@pytest.fixture
def api_key(credentials: dict[str, str]) -> str:
    """The shop's secret key: the one secret of its credentials (``shop_id`` is not one)."""
    return credentials["secret_key"]
