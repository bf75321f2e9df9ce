"""The AmoCRM tests run against its fake account; the shared fixtures are in ../conftest.py.

The account is in the credentials (``base_url``), so they are the fake's, not the
``CONTRACT``'s (which follow whatever URL the contract suite last pointed at).
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.amocrm.testing import CONTRACT_TOKEN, FakeAmoCRM


@pytest.fixture
def credentials(fake: FakeAmoCRM) -> dict[str, Any]:
    return {"access_token": CONTRACT_TOKEN, "base_url": fake.url}


@pytest.fixture
def api_key() -> str:
    """The long-lived access token (what must never be logged)."""
    return CONTRACT_TOKEN
