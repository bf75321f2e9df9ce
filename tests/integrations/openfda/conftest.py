"""Fixtures for the openFDA tests: the fake over loopback, shared clients, a stub resolver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.openfda.drug_label import OpenFdaDrugLabelIntegration
from integrations.openfda.fake import FakeOpenFda
from processors.settings import EndpointSettings

API_KEY = "fdaKEY0123456789abcdefghijklmnopqrstuvwx"
BOT_ID = "6f1c2a9e-0000-4000-8000-00000000d001"
ANONYMOUS_BOT_ID = "6f1c2a9e-0000-4000-8000-00000000d002"


class StubResolver:
    """The seed's ``get_default_for`` over a dict of bot_id -> credentials; records calls."""

    def __init__(self, credentials: dict[str, dict[str, Any]] | None = None) -> None:
        self.credentials = (
            credentials if credentials is not None else {BOT_ID: {"api_key": API_KEY}}
        )
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials.get(str(bot_id))


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
    pool = HttpClients({"openfda": EndpointSettings(base_url=fake.url, timeout_s=2.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> OpenFdaDrugLabelIntegration:
    return OpenFdaDrugLabelIntegration(clients)


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver()


@pytest.fixture
def make_resolver() -> type[StubResolver]:
    return StubResolver


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
