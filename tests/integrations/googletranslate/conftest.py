"""The Google Translate tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.googletranslate.testing import CONTRACT
from integrations.googletranslate.translate import GoogleTranslateTranslateIntegration
from integrations.http import HttpClients
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> GoogleTranslateTranslateIntegration:
    return GoogleTranslateTranslateIntegration(clients)
