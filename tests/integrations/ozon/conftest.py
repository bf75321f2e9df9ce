"""The Ozon tests run against its fake; the shared fixtures are in ../conftest.py.

Ozon's credentials hold two values (``client_id`` and ``api_key``): ``api_key`` is the key.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def api_key(credentials: dict[str, Any]) -> str:
    """The seller's Api-Key (the Client-Id beside it is a secret too, tested on its own)."""
    key: str = credentials["api_key"]
    return key
