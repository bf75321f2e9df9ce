"""The HubSpot tests run against its fake; the shared fixtures are in ../conftest.py.

The service has two actions: ``action`` (and so ``run``) is hubspot_create_contact; the deal
tests build their own ``run`` from ``deal``.
"""

from __future__ import annotations

import pytest

from integrations.base import BaseIntegration
from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.hubspot import HubSpotCreateContactIntegration, HubSpotCreateDealIntegration
from support.integrations import Run, runner
from support.resolvers import StubResolver


@pytest.fixture
def action(clients: HttpClients) -> BaseIntegration:
    return HubSpotCreateContactIntegration(clients)


@pytest.fixture
def deal(clients: HttpClients) -> HubSpotCreateDealIntegration:
    return HubSpotCreateDealIntegration(clients)


@pytest.fixture
def run_deal(
    deal: HubSpotCreateDealIntegration, resolver: StubResolver, logger: BotLogger, bot_id: str
) -> Run:
    """``run`` for hubspot_create_deal."""
    return runner(deal, deal.metadata, resolver, logger, bot_id)
