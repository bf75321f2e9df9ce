"""The OpenWeatherMap tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.http import HttpClients
from integrations.openweathermap.current_weather import OpenWeatherMapCurrentWeatherIntegration
from integrations.openweathermap.testing import CONTRACT
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> OpenWeatherMapCurrentWeatherIntegration:
    return OpenWeatherMapCurrentWeatherIntegration(clients)
