"""Credentials from a JSON file, for local runs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integrations.credentials.errors import CredentialsSourceBrokenError
from integrations.credentials.keys import CredentialsKey, normalise_bot_id
from integrations.credentials.sources.base import json_object, version_of

_Loaded = dict[CredentialsKey, dict[str, Any]]
_FORMAT = '{"<bot_id>": {"<provider>": {"<strategy>": {"token": "..."}}}}'


class FileCredentialsSource:
    """A JSON file laid out as ``{"<bot_id>": {"<provider>": {"<strategy>": {...}}}}``.

    The file is reread when its modification time or size changes, so edits take effect without a
    restart (once cached answers expire). A missing or malformed file fails every fetch with a
    :class:`~integrations.credentials.errors.CredentialsSourceBrokenError` (not retryable) naming
    the file and the offending entry. Concurrent fetches that find the file changed share one
    reread: a worker starting under a backlog of many bots reads the file once, not once per
    request (10,000 concurrent first fetches used to mean 10,000 parses, GiBs of memory).

    :meth:`store` writes renewed OAuth tokens back: under an exclusive ``flock`` on
    ``<file>.lock`` (shared by every worker on the host), a compare-and-set on the entry's
    ``version``, then a new file renamed over the old one, so a reader never sees half a file.
    """

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._signature: tuple[int, int] | None = None
        self._data: _Loaded = {}
        self._reading: tuple[tuple[int, int], asyncio.Future[_Loaded]] | None = None

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        data = await self._current()
        found = data.get(CredentialsKey(bot_id, provider, strategy))
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
        return await asyncio.to_thread(
            self._store, CredentialsKey(bot_id, provider, strategy), credentials, expected_version
        )

    async def aclose(self) -> None:
        return None

    def _store(
        self, key: CredentialsKey, credentials: dict[str, Any], expected_version: int | None
    ) -> bool:
        with self._locked():
            self._signature = None  # reread after this, whatever happens
            current = self._load()
            if key not in current or version_of(current[key]) != expected_version:
                return False  # gone, or another writer's pair is newer
            document = json.loads(self._path.read_bytes())
            raw_bot = next(b for b in document if normalise_bot_id(b) == key.bot_id)
            document[raw_bot][key.provider][key.strategy] = credentials
            self._replace(json.dumps(document, indent=2).encode())
            return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self._path.with_name(self._path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _replace(self, content: bytes) -> None:
        mode = self._path.stat().st_mode & 0o777
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def _current(self) -> _Loaded:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            raise CredentialsSourceBrokenError(
                f"credentials file {self._path} does not exist; create it as {_FORMAT} or point "
                "ACTIONSTREAM_CREDENTIALS__FILE_PATH at it"
            ) from None
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._signature:
            return self._data
        if self._reading is None or self._reading[0] != signature:
            self._reading = (signature, asyncio.ensure_future(asyncio.to_thread(self._load)))
        reading = self._reading
        try:
            # Shielded: a caller cancelled mid-read does not cancel the others' read.
            data = await asyncio.shield(reading[1])
        except BaseException:
            if self._reading is reading and reading[1].done():
                self._reading = None  # it failed: the next fetch reads again
            raise
        if self._reading is reading:  # not overtaken by a read of a newer file
            self._data, self._signature = data, signature
            self._reading = None
        return data

    def _load(self) -> _Loaded:
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
        loaded: _Loaded = {}
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
