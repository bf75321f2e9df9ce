"""A stand-in for the credentials resolver: the seed's ``get_default_for``, recording its calls.

Two ways to build one::

    StubResolver({"api_key": KEY})            # every bot gets these credentials
    StubResolver(None)                        # no bot has any
    StubResolver.per_bot({BOT_ID: {...}})     # each bot its own; a bot not listed has none
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

__all__ = ["Credentials", "StubResolver"]

Credentials = dict[str, Any]


class StubResolver:
    """``get_default_for`` over fixed credentials or a ``{bot_id: credentials}`` mapping.

    ``calls`` holds ``(bot_id, provider, strategy)`` for every lookup, in order.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        by_bot: Mapping[str, Credentials] | None = None,
    ) -> None:
        self.credentials = credentials
        self.by_bot = by_bot
        self.calls: list[tuple[str, str, str]] = []

    @classmethod
    def per_bot(cls, credentials: Mapping[str, Credentials]) -> StubResolver:
        """A resolver answering ``credentials[bot_id]`` (None for a bot not in it)."""
        return cls(by_bot=credentials)

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> Credentials | None:
        self.calls.append((str(bot_id), provider, strategy))
        if self.by_bot is not None:
            return self.by_bot.get(str(bot_id))
        return self.credentials
