"""A fake Dropbox content API (``/2/files/upload``): real HTTP on loopback.

::

    async with FakeDropbox() as fake:
        clients = HttpClients({"dropbox": EndpointSettings(base_url=fake.base_url)})
        ...
        fake.files["/reports/a.txt"].content       # what was stored, by lower-cased path
        fake.inject("rate_limit", retry_after=7)   # the next upload gets a 429

What it reproduces (developers.dropbox.com error-handling guide, WriteMode docs,
``external-apis.md`` §8.2): ``Authorization: Bearer``; raw bytes with ``Content-Type:
application/octet-stream`` and the argument as JSON in ``Dropbox-API-Arg``, which must be ASCII;
**400 answers are plain text**; 401/409/429 are JSON ``{"error_summary", "error": {".tag"}}``;
429 has ``Retry-After`` and ``error.retry_after``. WriteMode rules: an empty path is written; a
file with **identical contents** is "no conflict, nothing written" (unless ``strict_conflict``);
otherwise ``add`` conflicts, ``overwrite`` replaces, ``update`` replaces only the given ``rev``;
``autorename`` turns a conflict into "name (1).ext" / "name (conflicted copy).ext".
``content_hash`` is checked (409 ``content_hash_mismatch``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.credentials.testing import TokenGrants, basic_auth
from integrations.errors import OutcomeCategory
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeDropbox", "FaultKind", "Injection", "RecordedCall", "StoredFile"]

FaultKind = Literal[
    "rate_limit",  # 429 + Retry-After + error.retry_after (reason: too_many_requests)
    "write_rate_limit",  # 429, reason too_many_write_operations
    "expired_token",  # 401 expired_access_token
    "malformed_token",  # 400 plain text quoting the Authorization header, as Dropbox does
    "insufficient_space",  # 409 path/insufficient_space (disallowed names: path/disallowed_name)
    "no_write_permission",  # 409 path/no_write_permission
    "too_many_write_operations",  # 409 path/too_many_write_operations
    "bad_request",  # 400 plain text
    "timeout",  # store the file, answer only after delay_s
]
# Other statuses, stalls and cut connections: FakeServer.fail_next / stall_next / drop_next.

TOKEN_PATH = "/oauth2/token"  # noqa: S105  # a path: https://api.dropboxapi.com/oauth2/token

_PATH_RE = re.compile(r"(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)")
_DISALLOWED_NAMES = frozenset(
    {"desktop.ini", "thumbs.db", ".ds_store", ".dropbox", ".dropbox.attr"}
)
_CONTENT_TYPES = ("application/octet-stream", "text/plain; charset=dropbox-cors-hack")
_FUNCTION = 'Error in call to API function "files/upload": '


@dataclass(slots=True)
class StoredFile:
    """A file in the fake Dropbox."""

    path_display: str
    content: bytes
    rev: str
    file_id: str
    server_modified: str

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.path_display.rsplit("/", 1)[-1],
            "path_lower": self.path_display.lower(),
            "path_display": self.path_display,
            "id": self.file_id,
            "client_modified": self.server_modified,
            "server_modified": self.server_modified,
            "rev": self.rev,
            "size": len(self.content),
            "is_downloadable": True,
            "content_hash": dropbox_hash(self.content),
        }


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received (``arg`` is ``None`` when the header was unusable)."""

    path: str
    arg: dict[str, Any] | None
    body: bytes


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` uploads (``None``: all of them)."""

    retry_after: int
    delay_s: float


def dropbox_hash(data: bytes) -> str:
    block = 4 * 1024 * 1024
    digests = b"".join(
        hashlib.sha256(data[i : i + block]).digest() for i in range(0, len(data), block)
    )
    return hashlib.sha256(digests).hexdigest()


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _bad_request(text: str) -> web.Response:
    """Dropbox's plain-text 400, naming the function as the real API does."""
    return _plain(400, _FUNCTION + text)


def _summary(status: int, summary: str, error: dict[str, Any], **headers: str) -> web.Response:
    body = {"error_summary": summary, "error": error}
    return web.json_response(body, status=status, headers=headers or None)


def _path_error(reason: str) -> web.Response:
    return _summary(409, f"path/{reason}/..", {".tag": "path", "reason": {".tag": reason}})


class FakeDropbox(FakeServer[RecordedCall, Injection]):
    """A fake Dropbox on ``host:port`` (0: a free port), started by ``async with``.

    ``tokens`` are static valid access tokens (others get 401 ``invalid_access_token``).
    ``grants`` is its OAuth token endpoint (``POST /oauth2/token``, :data:`TOKEN_PATH`): tokens
    it issues are valid until they expire, then answer 401 ``expired_access_token``.
    """

    api_path = "/2"  # the real base URL ends in it

    client_max_size = 160 * 1024 * 1024

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = ("sl.fake-dropbox-token-for-tests",),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.tokens = set(tokens)
        super().__init__(host=host, port=port)
        self.files: dict[str, StoredFile] = {}
        self.grants = TokenGrants(lifetime_s=4 * 3600)  # Dropbox: short-lived tokens, 4 h
        self._revs = itertools.count(0x15F0000001)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2/files/upload", self._upload)
        app.router.add_post(TOKEN_PATH, self._token)

    @property
    def token_url(self) -> str:
        """Where its token endpoint is (``EndpointSettings.token_url``)."""
        return self.url + TOKEN_PATH

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Dropbox's shapes: plain text for 400 and 5xx, ``{"error_summary", "error"}`` else."""
        if status == 400 or status >= 500:
            return _plain(status, _FUNCTION + message if status == 400 else message)
        if status == 429:
            error: dict[str, Any] = {"reason": {".tag": "too_many_requests"}}
            if retry_after_s is None:
                return _summary(429, "too_many_requests/..", error)
            wait = math.ceil(retry_after_s)
            error["retry_after"] = wait
            return _summary(429, "too_many_requests/..", error, **{"Retry-After": str(wait)})
        tag = {401: "invalid_access_token", 403: "invalid_account_type"}.get(status, "other")
        return _summary(status, f"{tag}/..", {".tag": tag})

    # -- control ---------------------------------------------------------------------------------

    def put(self, path: str, content: bytes) -> StoredFile:
        """Store a file directly (a file that was there before the test)."""
        return self._write(path, content)

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after: int = 5,
        delay_s: float = 30.0,
    ) -> Injection:
        """Make the next ``times`` uploads fail with ``kind`` (see :data:`FaultKind`)."""
        return self.queue(
            Injection(kind=kind, remaining=times, retry_after=retry_after, delay_s=delay_s)
        )

    def clear(self) -> None:
        """Forget calls, files and injections."""
        super().clear()
        self.files.clear()

    # -- the server ------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        """Dropbox's ``/oauth2/token``: a form, the app's key and secret in it or as Basic."""
        form = dict(await request.post())
        status, body = self.grants.answer(form, basic=basic_auth(request))
        return web.json_response(body, status=status)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call = RecordedCall(path=request.path, headers=dict(request.headers), arg=None, body=body)
        self.calls.append(call)
        response = await self._answer(request, call)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request, call: RecordedCall) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        if auth is None:
            return _bad_request(
                'Must provide HTTP header "Authorization" or URL parameter "authorization".'
            )
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if not token or not re.fullmatch(r"[A-Za-z0-9._\-~+/=]+", token):
            return _bad_request(_malformed_auth(auth))
        if token not in self.tokens and not self.grants.valid(token):
            tag = "expired_access_token" if self.grants.issued(token) else "invalid_access_token"
            return _summary(401, f"{tag}/..", {".tag": tag})
        content_type = request.headers.get("Content-Type", "")
        if content_type not in _CONTENT_TYPES:
            expected = ", ".join(f'"{c}"' for c in _CONTENT_TYPES)
            return _bad_request(
                f'Bad HTTP "Content-Type" header: "{content_type}".  Expecting one of {expected}.'
            )
        raw_arg = request.headers.get("Dropbox-API-Arg")
        if raw_arg is None:
            return _bad_request(
                'Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".'
            )
        try:
            arg = json.loads(raw_arg.encode("ascii"))
        except (UnicodeEncodeError, ValueError):
            return _bad_request('HTTP header "Dropbox-API-Arg": could not decode input as JSON')
        if not isinstance(arg, dict):
            return _bad_request('HTTP header "Dropbox-API-Arg": expected an object')
        call.arg = arg
        path = arg.get("path")
        if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
            return _bad_request(
                f"HTTP header \"Dropbox-API-Arg\": path: '{path}' did not match pattern "
                f"'{_PATH_RE.pattern}'"
            )
        if (injection := self.take_injection()) is not None:
            fault = await self._fault(injection, request, arg, call.body)
            if fault is not None:
                return fault
        return self._store(arg, call.body)

    async def _fault(
        self, injection: Injection, request: web.Request, arg: dict[str, Any], body: bytes
    ) -> web.StreamResponse | None:
        kind = injection.kind
        if kind in ("rate_limit", "write_rate_limit"):
            reason = "too_many_requests" if kind == "rate_limit" else "too_many_write_operations"
            wait = injection.retry_after
            error = {"reason": {".tag": reason}, "retry_after": wait}
            return _summary(429, f"{reason}/..", error, **{"Retry-After": str(wait)})
        if kind == "expired_token":
            return _summary(401, "expired_access_token/..", {".tag": "expired_access_token"})
        if kind == "malformed_token":
            return _bad_request(_malformed_auth(request.headers.get("Authorization", "")))
        if kind in ("insufficient_space", "no_write_permission", "too_many_write_operations"):
            return _path_error(kind)
        if kind == "bad_request":
            return _bad_request('HTTP header "Dropbox-API-Arg": mode: unknown tag')
        # "timeout": the upload is stored, the answer comes only after delay_s.
        response = self._store(arg, body)
        await self.wait_unless_closing(injection.delay_s)
        return response

    def _store(self, arg: dict[str, Any], body: bytes) -> web.Response:
        expected_hash = arg.get("content_hash")
        if expected_hash is not None and expected_hash != dropbox_hash(body):
            return _summary(409, "content_hash_mismatch/..", {".tag": "content_hash_mismatch"})
        path: str = arg["path"]
        if not path.startswith("/"):
            path = "/" + path.split("/", 1)[-1] if "/" in path else f"/{path}"
        key = path.lower()
        if key.rsplit("/", 1)[-1] in _DISALLOWED_NAMES:
            return _path_error("disallowed_name")
        if any(name.startswith(key + "/") for name in self.files):
            return _path_error("conflict")  # a folder is there
        existing = self.files.get(key)
        if existing is None:
            return web.json_response(self._write(path, body).metadata())
        if existing.content == body and not arg.get("strict_conflict"):
            return web.json_response(existing.metadata())  # identical: nothing is written
        mode = arg.get("mode", "add")
        tag = mode.get(".tag") if isinstance(mode, dict) else mode
        if tag == "overwrite" or (
            tag == "update" and isinstance(mode, dict) and mode.get("update") == existing.rev
        ):
            return web.json_response(self._write(existing.path_display, body).metadata())
        if not arg.get("autorename"):
            return _path_error("conflict")
        return web.json_response(
            self._write(self._free_name(path, tag == "update"), body).metadata()
        )

    def _free_name(self, path: str, conflicted: bool) -> str:
        folder, _, name = path.rpartition("/")
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        for n in itertools.count(1):
            label = (
                "conflicted copy"
                if conflicted and n == 1
                else (f"conflicted copy {n}" if conflicted else str(n))
            )
            candidate = f"{folder}/{stem} ({label}){dot}{ext}"
            if candidate.lower() not in self.files:
                return candidate
        raise AssertionError("unreachable")

    def _write(self, path: str, content: bytes) -> StoredFile:
        key = path.lower()
        old = self.files.get(key)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        file_id = old.file_id if old else f"id:{hashlib.sha256(key.encode()).hexdigest()[:22]}"
        stored = StoredFile(path, content, f"{next(self._revs):x}", file_id, now)
        self.files[key] = stored
        return stored


def _malformed_auth(value: str) -> str:
    return (
        f'Invalid authorization value in HTTP header "Authorization": "{value}".  '
        'Expecting "Bearer <oauth2-access-token>".'
    )


CONTRACT_TOKEN = f"sl.contract-{secrets.token_hex(16)}"
CONTRACT = ContractSubject(
    service="dropbox",
    fake=lambda: FakeDropbox(tokens=(CONTRACT_TOKEN,)),
    credentials={"access_token": CONTRACT_TOKEN},
    configs={"dropbox_upload_file": {"path": "/contract/upload.txt", "content_text": "contract"}},
    # Dropbox: "the user or team account doesn't have access to the endpoint or feature".
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "dropbox_upload_file": [
            ({"content_text": "x"}, "path"),
            ({"path": "relative.txt", "content_text": "x"}, "$.path"),
            ({"path": "/dir/", "content_text": "x"}, "$.path"),
            ({"path": "/a.txt"}, "$"),
            ({"path": "/a.txt", "content_text": "x", "content_base64": "eA=="}, "$"),
            ({"path": "/a.txt", "content_text": "x", "mode": "append"}, "$.mode"),
            ({"path": "/a.txt", "content_text": "x", "mode": "update"}, "rev"),
            ({"path": "/a.txt", "content_text": "x", "rev": "0123456789a"}, "$"),
            ({"path": "/a.txt", "content_text": "x", "strict_conflict": True}, "strict_conflict"),
        ],
    },
)
