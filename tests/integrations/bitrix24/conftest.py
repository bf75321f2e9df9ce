"""The Bitrix24 tests run against its fake portal; the shared fixtures are in ../conftest.py.

The portal is in the credentials (the webhook URL), so they are the fake's, not the
``CONTRACT``'s (which follow whatever URL the contract suite last pointed at).
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.bitrix24.testing import CONTRACT_SECRET, FakeBitrix24


@pytest.fixture
def credentials(fake: FakeBitrix24) -> dict[str, Any]:
    return {"webhook_url": fake.webhook_url(secret=CONTRACT_SECRET)}


@pytest.fixture
def secret() -> str:
    """The webhook's secret (what must never be logged)."""
    return CONTRACT_SECRET
