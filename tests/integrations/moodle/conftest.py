"""The Moodle tests run against its fake site; the shared fixtures are in ../conftest.py.

The site URL is in the credentials, so they are the fake's, not the ``CONTRACT``'s (which
follow whatever URL the contract suite last pointed at).
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.moodle.testing import CONTRACT_TOKEN, FakeMoodle


@pytest.fixture
def credentials(fake: FakeMoodle) -> dict[str, Any]:
    return {"site_url": fake.url, "token": CONTRACT_TOKEN}


@pytest.fixture
def api_key(credentials: dict[str, Any]) -> str:
    """The web-service token (the site URL beside it is no secret)."""
    token: str = credentials["token"]
    return token
