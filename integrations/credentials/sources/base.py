"""The source-of-truth seam: what every credentials source implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from integrations.credentials.errors import CredentialsSourceBrokenError


@runtime_checkable
class CredentialsSource(Protocol):
    """Where a bot's credentials really live (the platform's API, a file, the environment).

    ``bot_id`` arrives normalised (canonical UUID text) and ``provider``/``strategy`` validated.
    ``fetch`` returns a new dict the caller may keep, or ``None`` when the bot has no credentials
    for that provider and strategy. Failures raise
    :class:`~integrations.credentials.errors.CredentialsSourceError`, whose message must never
    contain a credential value.
    """

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        """Return the bot's credentials, or ``None`` when it has none."""
        ...

    async def aclose(self) -> None:
        """Release connections or files; the source is not used afterwards."""
        ...


@runtime_checkable
class WritableCredentialsSource(CredentialsSource, Protocol):
    """A source that also takes renewed credentials back (OAuth tokens after a refresh).

    ``store`` is a compare-and-set on the credentials' ``version`` field: it replaces them only
    while the stored ones are still at ``expected_version`` (``None``: no version field) and
    returns ``False`` when another writer got there first, so a stale writer never overwrites a
    newer token pair.
    """

    async def store(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: dict[str, Any],
        *,
        expected_version: int | None,
    ) -> bool:
        """Replace the bot's credentials if still at ``expected_version``; ``False`` if not."""
        ...


def version_of(credentials: Mapping[str, Any] | None) -> int | None:
    """The ``version`` of stored credentials (an integer), or ``None`` when they have none."""
    value = None if credentials is None else credentials.get("version")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def json_object(value: object, *, where: str) -> dict[str, Any]:
    """Check that a decoded value is a JSON object; the error names ``where``, never the value."""
    if not isinstance(value, dict):
        raise CredentialsSourceBrokenError(
            f"{where} must be a JSON object, got {type(value).__name__}"
        )
    return value
