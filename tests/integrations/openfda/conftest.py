"""Fixtures for the openFDA tests: the fake over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.openfda.drug_label import OpenFdaDrugLabelIntegration
from integrations.openfda.testing import FakeOpenFda
from support.integrations import http_clients
from support.resolvers import StubResolver

API_KEY = "fdaKEY0123456789abcdefghijklmnopqrstuvwx"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000d001"
ANONYMOUS_BOT_ID = "6f1c2a9e-0000-4000-8000-00000000d002"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenFda]:
    async with FakeOpenFda(api_keys=[API_KEY]) as server:
        server.add_label(
            brand_name="Advil",
            generic_name="IBUPROFEN",
            indications_and_usage="Uses temporarily relieves minor aches and pains.",
            dosage_and_administration=["Directions do not take more than directed", "adults: 1"],
            warnings="Allergy alert: Ibuprofen may cause a severe allergic reaction. " * 40,
            purpose="Pain reliever/fever reducer",
        )
        server.add_label(brand_name="Motrin IB", generic_name="IBUPROFEN")
        yield server


@pytest.fixture
async def clients(fake: FakeOpenFda) -> AsyncIterator[HttpClients]:
    async with http_clients("openfda", base_url=fake.url, timeout_s=2.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> OpenFdaDrugLabelIntegration:
    return OpenFdaDrugLabelIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver.per_bot({BOT_ID: {"api_key": API_KEY}})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, dict[str, Any]]], StubResolver]:
    """For other credentials, per bot (``make_resolver({})``: none for any bot)."""
    return StubResolver.per_bot


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.openfda", bot_id=BOT_ID, integration_id="openfda_drug_label")


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def bot_id() -> str:
    return BOT_ID


@pytest.fixture
def anonymous_bot_id() -> str:
    return ANONYMOUS_BOT_ID
