"""What Dropbox actions share: the OAuth token, the ``Dropbox-API-Arg`` header, the content
hash, and how Dropbox answers.

**Why httpx, not the official SDK.** ``dropbox`` (12.x) is synchronous (``requests``): every
call would block the event loop or need a thread, each ``Dropbox`` object owns its own session
(no pool shared across the bots' tokens), and it retries 429/5xx itself with ``time.sleep``. An
upload is one POST of raw bytes with a JSON header, made over the shared ``httpx.AsyncClient``.

**Errors** (developers.dropbox.com error-handling guide; ``external-apis.md`` §8.2): JSON
``{"error_summary", "error"}`` except for 400, which is plain text. The seam
(:mod:`integrations.provider`) maps them by status; ``parameters.error`` is the
``error_summary``. Dropbox's own cases (:class:`Dropbox`):

=============================  ===========================  ===================================
Dropbox answer                 our error (code)             why
=============================  ===========================  ===================================
400, **plain text**            InvalidConfigError (400)     malformed argument (path, ...)
400 about "Authorization"      AuthError (401)              a malformed token
403                            PermanentError (403)         the app / account may not do this
409 path/malformed_path,       InvalidConfigError (409)     the configured path is unusable
    disallowed_name
409 too_many_write_operations  TransientError (409)         lock contention: retry
429                            RateLimitedError             body ``error.retry_after`` (s), else
                                                            the headers
=============================  ===========================  ===================================

Other 409s (path/conflict, insufficient_space, ...) are permanent, as the seam says.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import httpx

from integrations.base import Category, CredentialsStrategy
from integrations.bot_logger import BotLogger
from integrations.credentials.fields import SecretField
from integrations.credentials.oauth import TokenEndpoint
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    TransientError,
)
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "ACCESS_TOKEN",
    "DEFAULT_BASE_URL",
    "DROPBOX",
    "TOKEN_ENDPOINT",
    "Dropbox",
    "DropboxIntegration",
    "api_arg_header",
    "content_hash",
]

DROPBOX = Service("dropbox", Category.STORAGE, "#0061FF", strategy=CredentialsStrategy.OAUTH)

DEFAULT_BASE_URL = "https://content.dropboxapi.com/2"
_HASH_BLOCK = 4 * 1024 * 1024
_MAX_TEXT = 300  # of a plain-text 400 in a message

ACCESS_TOKEN = SecretField(
    provider="dropbox", fields=("access_token",), strategy="oauth",
    example='{"access_token": "sl.…"}',
)  # fmt: skip
"""The bot's OAuth access token, in its ``dropbox`` credentials (strategy ``oauth``)."""

TOKEN_ENDPOINT = TokenEndpoint(url="https://api.dropboxapi.com/oauth2/token")
"""Dropbox renews a short-lived (4 h) token from an offline refresh token, which it does not
rotate; the app key and secret go in the form (Basic works too). A revoked or expired grant
answers ``invalid_grant``."""


def api_arg_header(arg: dict[str, Any]) -> str:
    """``Dropbox-API-Arg``: "HTTP-header-safe" JSON, every non-ASCII char and 0x7F escaped
    (``json.dumps`` escapes non-ASCII but not DEL)."""
    return json.dumps(arg, ensure_ascii=True, separators=(",", ":")).replace("\x7f", "\\u007f")


def content_hash(data: bytes) -> str:
    """Dropbox's content hash: SHA-256 over the SHA-256 digests of each 4 MiB block."""
    digests = b"".join(
        hashlib.sha256(data[i : i + _HASH_BLOCK]).digest() for i in range(0, len(data), _HASH_BLOCK)
    )
    return hashlib.sha256(digests).hexdigest()


class Dropbox(Provider):
    """Dropbox's answers (see the module's table); a success is a JSON object."""

    name = "Dropbox"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return response.status_code != 200 or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        if response.status_code == 400:  # plain text (it may quote the Authorization header)
            return ErrorDetail(message=response.text.strip()[:_MAX_TEXT] or None)
        body = data if isinstance(data, dict) else {}
        summary = body.get("error_summary")
        summary = summary if isinstance(summary, str) and summary else None
        error = body.get("error")
        wait = error.get("retry_after") if isinstance(error, dict) else None
        if not isinstance(wait, int | float) or isinstance(wait, bool) or wait < 0:
            wait = None  # the seam reads the headers
        return ErrorDetail(
            message=summary,
            retry_after_s=None if wait is None else float(wait),
            parameters={"error": summary} if summary else {},
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        text = detail.message or response.reason_phrase
        if status == 400:
            if "authorization" in text.lower():
                return AuthError(call.message(f"HTTP 400: the access token is malformed: {text}"))
            return InvalidConfigError(
                call.message(f"HTTP 400: bad request: {text}; fix the action's config")
            )
        params = dict(detail.parameters)
        if status == 403:  # the token is fine; the app or account may not do this
            return PermanentError(call.message(f"HTTP 403: {text}"), code=403, parameters=params)
        if status == 409 and "too_many_write_operations" in text:
            message = call.message(f"HTTP 409: {text}; too many concurrent writes, retry")
            return TransientError(message, code=409, parameters=params)
        if status == 409 and any(r in text for r in ("malformed_path", "disallowed_name")):
            message = call.message(f"HTTP 409: {text}; the path is not allowed, fix it")
            return InvalidConfigError(message, code=409, parameters=params)
        return None


class DropboxIntegration(KeyedHttpIntegration):
    """Base of the Dropbox content actions: the shared client, the OAuth token and one POST."""

    service: ClassVar[str] = "dropbox"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = Dropbox()
    secret = ACCESS_TOKEN
    http_timeout_s: ClassVar[float] = 60.0  # uploads of up to 10 MB on slow links

    async def upload(
        self, route: str, arg: dict[str, Any], data: bytes, token: str, logger: BotLogger
    ) -> dict[str, Any]:
        """POST ``data`` to a content ``route`` (e.g. ``files/upload``) with ``arg`` as the
        ``Dropbox-API-Arg`` header; the JSON answer, or a typed error."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
            "Dropbox-API-Arg": api_arg_header(arg),
        }
        reply = await self.call(
            "POST", route, content=data, headers=headers, secrets=[token], logger=logger
        )
        return reply.body
