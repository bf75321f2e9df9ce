"""An in-memory credentials source: the test double, and a way to embed fixed credentials."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from integrations.credentials.keys import CredentialsKey, make_key
from integrations.credentials.sources.base import version_of

# provider -> strategy -> credentials, one bot's share of the file source's layout
BotCredentials = Mapping[str, Mapping[str, Mapping[str, Any]]]


class MemoryCredentialsSource:
    """Credentials held in a dict, laid out like the file source's JSON.

    ``MemoryCredentialsSource({bot_id: {"telegram": {"api_key": {"token": "…"}}}})``. ``fetches``
    and ``stores`` count calls, which is what cache and refresh tests assert on.
    """

    def __init__(
        self, data: Mapping[str, BotCredentials] | Mapping[UUID, BotCredentials] | None = None
    ) -> None:
        self._data: dict[CredentialsKey, dict[str, Any]] = {}
        self.fetches = 0
        self.stores = 0
        for bot_id, providers in (data or {}).items():
            for provider, strategies in providers.items():
                for strategy, credentials in strategies.items():
                    self.set(bot_id, provider, strategy, credentials)

    def set(
        self,
        bot_id: UUID | str,
        provider: str,
        strategy: str,
        credentials: Mapping[str, Any] | None,
    ) -> None:
        """Add, replace or (with ``None``) remove one bot's credentials."""
        key = make_key(bot_id, provider, strategy)
        if credentials is None:
            self._data.pop(key, None)
        else:
            self._data[key] = copy.deepcopy(dict(credentials))

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        self.fetches += 1
        found = self._data.get(CredentialsKey(bot_id, provider, strategy))
        return None if found is None else copy.deepcopy(found)

    async def store(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: dict[str, Any],
        *,
        expected_version: int | None,
    ) -> bool:
        key = CredentialsKey(bot_id, provider, strategy)
        if version_of(self._data.get(key)) != expected_version:
            return False
        self.stores += 1
        self._data[key] = copy.deepcopy(credentials)
        return True

    async def aclose(self) -> None:
        return None
