"""The Google Maps tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.googlemaps.geocode import GoogleMapsGeocodeIntegration
from integrations.googlemaps.testing import CONTRACT
from integrations.http import HttpClients
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> GoogleMapsGeocodeIntegration:
    return GoogleMapsGeocodeIntegration(clients)
