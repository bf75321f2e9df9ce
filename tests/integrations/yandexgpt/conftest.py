"""The YandexGPT tests run against its fake; the shared fixtures are in ../conftest.py.

What differs: the credentials hold two strings (the key and the folder ID), so ``api_key`` is
named, not guessed.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def api_key(credentials: dict[str, Any]) -> str:
    """The service account's API key of the contract credentials."""
    key: str = credentials["api_key"]
    return key


@pytest.fixture
def folder_id(credentials: dict[str, Any]) -> str:
    """The folder the contract key's service account lives in."""
    folder: str = credentials["folder_id"]
    return folder
