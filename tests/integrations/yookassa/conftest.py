"""The YooKassa tests run against its fake; the shared fixtures are in ../conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def api_key(credentials: dict[str, str]) -> str:
    """The shop's secret key: the one secret of its credentials (``shop_id`` is not one)."""
    return credentials["secret_key"]
