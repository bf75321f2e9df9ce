"""The Discord tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.discord.execute_webhook import DiscordExecuteWebhookIntegration
from integrations.discord.testing import CONTRACT
from integrations.http import HttpClients
from integrations.testing import ContractSubject


@pytest.fixture
def subject() -> ContractSubject:
    return CONTRACT


@pytest.fixture
def action(clients: HttpClients) -> DiscordExecuteWebhookIntegration:
    return DiscordExecuteWebhookIntegration(clients)


@pytest.fixture
def webhook(credentials: dict[str, str]) -> tuple[str, str]:
    """The ``(id, token)`` of the bot's webhook (its ``webhook_url`` ends in ``/<id>/<token>``)."""
    webhook_id, token = credentials["webhook_url"].rsplit("/", 2)[1:]
    return webhook_id, token
