"""The Moodle tests run against its fake site; the shared fixtures are in ../conftest.py.

The site URL is in the credentials, so they are the fake's, not the ``CONTRACT``'s (which
follow whatever URL the contract suite last pointed at).
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.http import HttpClients
from integrations.moodle.send_message import MoodleSendMessageIntegration
from integrations.moodle.testing import CONTRACT, CONTRACT_TOKEN, FakeMoodle
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> MoodleSendMessageIntegration:
    return MoodleSendMessageIntegration(clients)


@pytest.fixture
def credentials(fake: FakeMoodle) -> dict[str, Any]:
    return {"site_url": fake.url, "token": CONTRACT_TOKEN}


@pytest.fixture
def api_key(credentials: dict[str, Any]) -> str:
    """The web-service token (the site URL beside it is no secret)."""
    token: str = credentials["token"]
    return token
