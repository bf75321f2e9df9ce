"""A fake Google Drive API (generateIds, multipart create, get, list) with Google's token
endpoint: real HTTP on loopback, for tests and demos.

    async with FakeGoogleDrive(tokens={"ya29.static"}) as fake:   # 127.0.0.1:<free port>
        fake.inject("user_rate_limit")     # the next create: 403 userRateLimitExceeded
        fake.inject("lost_answer")         # the next create IS made, then the connection cut
        fake.files                         # what Drive holds, by id

It answers as Drive does (``integrations/googledrive/client.py`` for the sources), under the
:class:`~integrations.google.testing.FakeGoogle` base (token endpoint, bearer checks, Google's
errors; see there for ``grant``, ``revoke`` and ``refreshes``):

- ``GET /drive/v3/files/generateIds?count=&space=&type=`` → ``{"ids", "space", "kind"}``;
- ``POST /upload/drive/v3/files?uploadType=multipart``: a ``multipart/related`` body, JSON
  metadata then media, at most 5 MB of media (else ``413``). An ``id`` Drive did not generate is
  ``400 "The provided file ID is not usable."``; one already used ``409 "A file already exists
  with the provided ID."``; an unknown parent ``404``. Success is the file resource;
- ``GET /drive/v3/files/{id}`` (404 if unknown) and ``GET /drive/v3/files?q=`` understanding
  ``appProperties has { key='k' and value='v' }`` and ``trashed=false`` (with
  ``searchable=False`` new files are not yet indexed, as right after a create).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.google.testing import TOKEN_PATH, DelayedInjection, FakeGoogle
from integrations.googledrive.client import SCOPE
from integrations.googledrive.upload_file import MAX_UPLOAD_BYTES
from integrations.testing import BaseCall, ContractSubject

__all__ = [
    "CONTRACT",
    "TOKEN_PATH",
    "DriveFile",
    "FakeGoogleDrive",
    "FaultKind",
    "Injection",
    "RecordedCall",
]

FaultKind = Literal[
    "user_rate_limit",  # 403 userRateLimitExceeded
    "rate_limit",  # 403 rateLimitExceeded
    "too_many_requests",  # 429 rateLimitExceeded
    "storage_quota",  # 403 storageQuotaExceeded
    "file_permissions",  # 403 insufficientFilePermissions (a folder the app may not write)
    "backend_error",  # 500 backendError, nothing created
    "lost_answer",  # the file IS created, then the connection is closed without an answer
    "slow_answer",  # the file IS created, its answer comes only after delay_s
]
_FAULTS: dict[str, tuple[int, str, str]] = {
    "user_rate_limit": (403, "userRateLimitExceeded", "User rate limit exceeded."),
    "rate_limit": (403, "rateLimitExceeded", "Rate limit exceeded."),
    "too_many_requests": (429, "rateLimitExceeded", "Rate limit exceeded."),
    "storage_quota": (403, "storageQuotaExceeded", "The user's Drive storage quota has been "
                      "exceeded."),
    "file_permissions": (403, "insufficientFilePermissions", "The user does not have "
                         "sufficient permissions for this file."),
    "backend_error": (500, "backendError", "Internal Error"),
}  # fmt: skip
_APP_PROPERTY = re.compile(r"appProperties has \{ key='([^']*)' and value='([^']*)' \}")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One API request the fake received; ``token``: its bearer token."""

    method: str
    path: str
    query: dict[str, str]
    token: str | None
    metadata: dict[str, Any] | None = None  # a create's JSON part
    media: bytes | None = None  # a create's media part
    media_type: str | None = None


@dataclass(slots=True)
class DriveFile:
    """A file the fake holds."""

    id: str
    name: str
    mime_type: str
    content: bytes
    parents: list[str]
    app_properties: dict[str, str] = field(default_factory=dict)
    created: str = ""
    searchable: bool = True

    def resource(self) -> dict[str, Any]:
        """The file as Drive answers it (the fields the action asks for)."""
        return {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "size": str(len(self.content)),
            "parents": list(self.parents),
            "md5Checksum": hashlib.md5(self.content, usedforsecurity=False).hexdigest(),
            "createdTime": self.created,
            "webViewLink": f"https://drive.google.com/file/d/{self.id}/view?usp=drivesdk",
        }


Injection = DelayedInjection[FaultKind]


def _new_id() -> str:
    """An id shaped like Drive's: 33 characters of ``[A-Za-z0-9_-]``."""
    return "1" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


class FakeGoogleDrive(FakeGoogle[RecordedCall, Injection]):
    """A fake Drive API plus Google's token endpoint on ``host:port``, by ``async with``.

    ``folders``: folder ids a file may be put in besides ``root``; ``searchable``: whether a
    new file shows in searches at once (False: never, the worst of Drive's indexing lag).
    """

    client_max_size = MAX_UPLOAD_BYTES + 1024**2

    def __init__(
        self, *, folders: set[str] | None = None, searchable: bool = True, **options: Any
    ) -> None:
        options.setdefault("scope", SCOPE)
        super().__init__(**options)
        self.folders = {"root", *(folders or set())}
        self.searchable = searchable
        self.files: dict[str, DriveFile] = {}
        self.generated: set[str] = set()

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/drive/v3/files/generateIds", self._generate_ids)
        app.router.add_get("/drive/v3/files/{file_id}", self._get)
        app.router.add_get("/drive/v3/files", self._list)
        app.router.add_post("/upload/drive/v3/files", self._create)

    def inject(self, kind: FaultKind, *, times: int | None = 1, delay_s: float = 30.0) -> Injection:
        """Make the next ``times`` creates (None: all) with a valid token meet ``kind``.

        Statuses, stalls and dropped connections of any request are the shared faults
        (:meth:`~integrations.testing.FakeServer.fail_next`, ``stall_next``, ``drop_next``).
        """
        return self.queue(Injection(kind=kind, remaining=times, delay_s=delay_s))

    def clear(self) -> None:
        """Forget calls, faults, files and generated ids (grants and tokens stay)."""
        super().clear()
        self.files.clear()
        self.generated.clear()

    # -- the API ---------------------------------------------------------------------------------

    def _record(self, request: web.Request) -> RecordedCall:
        token, headers = self.caller(request)
        call = RecordedCall(
            method=request.method, path=request.path, query=dict(request.query), token=token,
            headers=headers,
        )  # fmt: skip
        self.calls.append(call)
        return call

    async def _generate_ids(self, request: web.Request) -> web.StreamResponse:
        call = self._record(request)
        if self.bearer(request) is None:
            return self.answered(call, self.unauthenticated())
        count = request.query.get("count", "10")
        if not count.isdigit() or not 1 <= int(count) <= 1000:
            return self.answered(call, self.google_error(400, "invalid", "Invalid count."))
        ids = [_new_id() for _ in range(int(count))]
        self.generated.update(ids)
        space = request.query.get("space", "drive")
        body = {"kind": "drive#generatedIds", "space": space, "ids": ids}
        return self.answered(call, web.json_response(body))

    async def _get(self, request: web.Request) -> web.StreamResponse:
        call = self._record(request)
        if self.bearer(request) is None:
            return self.answered(call, self.unauthenticated())
        file_id = request.match_info["file_id"]
        found = self.files.get(file_id)
        if found is None:
            return self.answered(call, self._not_found(file_id))
        return self.answered(call, web.json_response(found.resource()))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        call = self._record(request)
        if self.bearer(request) is None:
            return self.answered(call, self.unauthenticated())
        query = request.query.get("q", "")
        wanted = dict(_APP_PROPERTY.findall(query))
        matches = [
            f.resource()
            for f in self.files.values()
            if f.searchable and all(f.app_properties.get(k) == v for k, v in wanted.items())
        ]
        size = request.query.get("pageSize", "100")
        matches = matches[: int(size)] if size.isdigit() else matches
        return self.answered(call, web.json_response({"kind": "drive#fileList", "files": matches}))

    async def _create(self, request: web.Request) -> web.StreamResponse:
        call = self._record(request)
        try:
            meta, media, media_type = await self._parts(request)
        except ConnectionResetError:  # the client gave up (after a stall): nothing arrived
            return self.disconnect(request)
        except ValueError as bad:
            return self.answered(call, self.google_error(400, "badRequest", str(bad)))
        call.metadata, call.media, call.media_type = meta, media, media_type
        if self.bearer(request) is None:
            return self.answered(call, self.unauthenticated())
        if request.query.get("uploadType") != "multipart":
            return self.answered(call, self.google_error(400, "badRequest", "Bad Request"))
        if len(media) > MAX_UPLOAD_BYTES:
            too_large = self.google_error(413, "uploadTooLarge", "Request Too Large")
            return self.answered(call, too_large)
        refused = self._refusal(meta)
        if refused is not None:
            return self.answered(call, refused)
        injection = self.take_injection()
        if injection is not None and injection.kind in _FAULTS:
            status, reason, message = _FAULTS[injection.kind]
            return self.answered(call, self.google_error(status, reason, message))
        made = self._make(meta, media, media_type)
        if injection is not None and injection.kind == "lost_answer":
            return self.disconnect(request)
        if injection is not None and injection.kind == "slow_answer":
            await self.wait_unless_closing(injection.delay_s)
        return self.answered(call, web.json_response(made.resource()))

    # -- helpers ---------------------------------------------------------------------------------

    async def _parts(self, request: web.Request) -> tuple[dict[str, Any], bytes, str]:
        """The JSON metadata, the media and its type of a ``multipart/related`` body."""
        if request.content_type != "multipart/related":
            raise ValueError(f"Unsupported content with type: {request.content_type}")
        reader = await request.multipart()
        parts: list[tuple[bytes, str]] = []
        while True:
            part = await reader.next()
            if part is None:
                break
            raw = await part.read(decode=False)  # type: ignore[union-attr]
            parts.append((bytes(raw), part.headers.get("Content-Type", "")))
        if len(parts) != 2 or not parts[0][1].startswith("application/json"):
            raise ValueError("Multipart body must be a JSON metadata part and a media part")
        meta = json.loads(parts[0][0])
        if not isinstance(meta, dict):
            raise ValueError("Invalid JSON payload received.")
        return meta, parts[1][0], parts[1][1]

    def _refusal(self, meta: dict[str, Any]) -> web.Response | None:
        file_id = meta.get("id")
        if file_id is not None:
            if file_id in self.files:
                return self.google_error(
                    409, "duplicate", "A file already exists with the provided ID.",
                    status_name="ALREADY_EXISTS",
                )  # fmt: skip
            if file_id not in self.generated:
                return self.google_error(400, "invalid", "The provided file ID is not usable.")
        for parent in meta.get("parents") or ["root"]:
            if parent not in self.folders:
                return self._not_found(str(parent))
        return None

    def _make(self, meta: dict[str, Any], media: bytes, media_type: str) -> DriveFile:
        file_id = meta.get("id") or _new_id()
        self.generated.discard(file_id)
        made = DriveFile(
            id=file_id, name=str(meta.get("name") or "Untitled"),
            mime_type=str(meta.get("mimeType") or media_type or "application/octet-stream"),
            content=media, parents=list(meta.get("parents") or ["root"]),
            app_properties=dict(meta.get("appProperties") or {}),
            created=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            searchable=self.searchable,
        )  # fmt: skip
        self.files[file_id] = made
        return made

    def _not_found(self, file_id: str) -> web.Response:
        return self.google_error(404, "notFound", f"File not found: {file_id}.")


CONTRACT_TOKEN = "ya29.c0ntractAccessT0kenForTheFakeGoogleDrive7f3a9b2e"  # noqa: S105 - the fake's
CONTRACT = ContractSubject(
    service="googledrive",
    fake=lambda: FakeGoogleDrive(tokens={CONTRACT_TOKEN}),
    credentials={"access_token": CONTRACT_TOKEN},
    configs={"googledrive_upload_file": {"name": "contract.txt", "content_text": "contract"}},
    invalid_configs={
        "googledrive_upload_file": [
            ({"content_text": "x"}, "name"),
            ({"name": "a.txt"}, "$"),  # no content
            ({"name": "a.txt", "content_text": "x", "content_base64": "eA=="}, "$"),
            ({"name": "", "content_text": "x"}, "name"),
            ({"name": "x" * 256, "content_text": "x"}, "name"),
            ({"name": "a\nb", "content_text": "x"}, "name"),
            ({"name": "a", "content_text": "x", "parent_id": "../etc"}, "parent_id"),
            ({"name": "a", "content_text": "x", "parent_id": "short"}, "parent_id"),
            ({"name": "a", "content_text": "x", "mime_type": "text"}, "mime_type"),
            ({"name": "a", "content_text": "x", "mime_type": "text/plain\r\nX: y"}, "mime_type"),
            (
                {"name": "a", "content_text": "x",
                 "mime_type": "application/vnd.google-apps.document"},
                "mime_type",
            ),
            ({"name": "a", "content_text": "x", "id": "1abc"}, "id"),
            ({"name": "a", "content_base64": "x" * 7_000_000}, "content_base64"),
        ],
    },
)  # fmt: skip
