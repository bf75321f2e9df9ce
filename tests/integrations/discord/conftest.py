"""The Discord tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def webhook(credentials: dict[str, str]) -> tuple[str, str]:
    """The ``(id, token)`` of the bot's webhook (its ``webhook_url`` ends in ``/<id>/<token>``)."""
    webhook_id, token = credentials["webhook_url"].rsplit("/", 2)[1:]
    return webhook_id, token
