"""Credentials from a JSON file, for local runs."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from integrations.credentials.errors import CredentialsSourceBrokenError
from integrations.credentials.keys import CredentialsKey, normalise_bot_id
from integrations.credentials.sources.base import json_object

_FORMAT = '{"<bot_id>": {"<provider>": {"<strategy>": {"token": "..."}}}}'


class FileCredentialsSource:
    """A JSON file laid out as ``{"<bot_id>": {"<provider>": {"<strategy>": {...}}}}``.

    The file is reread when its modification time or size changes, so edits take effect without a
    restart (once cached answers expire). A missing or malformed file fails every fetch with a
    :class:`~integrations.credentials.errors.CredentialsSourceBrokenError` (not retryable) naming
    the file and the offending entry.
    """

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._signature: tuple[int, int] | None = None
        self._data: dict[CredentialsKey, dict[str, Any]] = {}

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        data = await self._current()
        found = data.get(CredentialsKey(bot_id, provider, strategy))
        return None if found is None else copy.deepcopy(found)

    async def aclose(self) -> None:
        return None

    async def _current(self) -> dict[CredentialsKey, dict[str, Any]]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            raise CredentialsSourceBrokenError(
                f"credentials file {self._path} does not exist; create it as {_FORMAT} or point "
                "ACTIONSTREAM_CREDENTIALS__FILE_PATH at it"
            ) from None
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature != self._signature:
            self._data = await asyncio.to_thread(self._load)
            self._signature = signature
        return self._data

    def _load(self) -> dict[CredentialsKey, dict[str, Any]]:
        try:
            document = json.loads(self._path.read_bytes())
        except (OSError, ValueError) as exc:
            # Only the position, never the text: the text is full of secrets.
            at = (
                f"line {exc.lineno}"
                if isinstance(exc, json.JSONDecodeError)
                else type(exc).__name__
            )
            raise CredentialsSourceBrokenError(
                f"credentials file {self._path} cannot be read as JSON ({at}); expected {_FORMAT}"
            ) from None
        loaded: dict[CredentialsKey, dict[str, Any]] = {}
        top = json_object(document, where=f"credentials file {self._path} (expected {_FORMAT})")
        for bot_id, providers in top.items():
            try:
                canonical = normalise_bot_id(bot_id)
            except ValueError as exc:
                raise CredentialsSourceBrokenError(f"{self._path}: {exc}") from None
            per_provider = json_object(providers, where=f"{self._path}:{bot_id}")
            for provider, strategies in per_provider.items():
                where = f"{self._path}:{bot_id}/{provider}"
                for strategy, creds in json_object(strategies, where=where).items():
                    key = CredentialsKey(canonical, provider, strategy)
                    loaded[key] = json_object(creds, where=f"{where}/{strategy}")
        return loaded
