"""The Wildberries tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest

from integrations.wildberries.testing import CONTRACT_WAREHOUSE


@pytest.fixture
def warehouse() -> int:
    """The seller's warehouse the contract fake holds stock on."""
    return CONTRACT_WAREHOUSE
