"""What identifies one set of credentials: (bot, provider, strategy), normalised once.

Every layer (sources, caches, single-flight) works on :class:`CredentialsKey`, so a bot id passed as
a ``UUID`` and the same id passed as an upper-case string can never end up as two cache entries,
and no caller-supplied string can forge another bot's Redis key.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple
from uuid import UUID

# Provider and strategy names come from integration metadata ("telegram", "api_key", "oauth").
# ':' '{' '}' are excluded because they delimit the Redis key; allowing them would let
# ("a:b", "c") and ("a", "b:c") share one entry.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# Bot ids are UUIDs on the platform; other opaque ids are accepted if they cannot break the key.
_BOT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


class CredentialsKey(NamedTuple):
    """A normalised (bot_id, provider, strategy) triple; build it with :func:`make_key`."""

    bot_id: str
    provider: str
    strategy: str


@lru_cache(maxsize=65536)
def normalise_bot_id(bot_id: UUID | str) -> str:
    """Return the canonical string form of a bot id (lower-case hyphenated for UUIDs).

    Raises ``ValueError`` naming the offending value when the id is empty or contains characters
    that could alter a cache key. Cached: every request's credentials look-up asks for its bot's
    id, and an id that is not a UUID costs a failed UUID parse each time (7 % of a no-op
    request's CPU in the benchmark's profile). Refusals are not cached.
    """
    if isinstance(bot_id, UUID):
        return str(bot_id)
    if not isinstance(bot_id, str):
        raise TypeError(f"bot_id must be a UUID or str, got {type(bot_id).__name__}")
    try:
        return str(UUID(bot_id))
    except ValueError:
        pass  # not a UUID: an opaque id, checked below
    if not _BOT_ID.fullmatch(bot_id):
        raise ValueError(
            f"invalid bot_id {bot_id!r}: expected a UUID or 1-128 characters of [A-Za-z0-9_.-]"
        )
    return bot_id


def check_name(kind: str, value: str) -> str:
    """Validate a provider or strategy name; return it as a plain ``str``.

    Plain, so that ``CredentialsStrategy.API_KEY`` (a ``StrEnum``) and ``"api_key"`` are one key.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"invalid credentials {kind} {value!r}: expected 1-64 characters of [A-Za-z0-9_.-], "
            "starting with a letter or digit"
        )
    return str(value)


def make_key(bot_id: UUID | str, provider: str, strategy: str) -> CredentialsKey:
    """Normalise and validate the three parts of a credentials lookup."""
    return CredentialsKey(
        normalise_bot_id(bot_id), check_name("provider", provider), check_name("strategy", strategy)
    )
