"""The NewsAPI tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.http import HttpClients
from integrations.newsapi.testing import CONTRACT
from integrations.newsapi.top_headlines import NewsAPITopHeadlinesIntegration
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> NewsAPITopHeadlinesIntegration:
    return NewsAPITopHeadlinesIntegration(clients)
