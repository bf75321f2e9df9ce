"""The openFDA tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from integrations.openfda.testing import CONTRACT_KEY, FakeOpenFda


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenFda]:
    """The contract's fake with labels of its own: two ibuprofens, Advil's with long sections."""
    async with FakeOpenFda(api_keys=[CONTRACT_KEY]) as server:
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
