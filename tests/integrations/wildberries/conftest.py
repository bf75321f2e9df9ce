"""The Wildberries tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.http import HttpClients
from integrations.testing import ContractSubject
from integrations.wildberries.get_stocks import WildberriesGetStocksIntegration
from integrations.wildberries.testing import CONTRACT, CONTRACT_WAREHOUSE


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> WildberriesGetStocksIntegration:
    return WildberriesGetStocksIntegration(clients)


@pytest.fixture
def warehouse() -> int:
    """The seller's warehouse the contract fake holds stock on."""
    return CONTRACT_WAREHOUSE
