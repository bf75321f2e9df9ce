"""What Dropbox actions share: the OAuth token, the ``Dropbox-API-Arg`` header, the content
hash, and the error mapping.

**Why httpx, not the official SDK.** ``dropbox`` (12.x) is synchronous (``requests``): every
call would block the event loop or need a thread, each ``Dropbox`` object owns its own session
(no pool shared across the bots' tokens), and it retries 429/5xx itself with ``time.sleep``. An
upload is one POST of raw bytes with a JSON header, made over the shared ``httpx.AsyncClient``.

**Errors** (developers.dropbox.com error-handling guide; ``external-apis.md`` §8.2):

=============================  ===========================  ===================================
Dropbox answer                 our error (code)             why
=============================  ===========================  ===================================
400, **plain text**            InvalidConfigError (400)     malformed argument (path, ...)
400 about "Authorization"      AuthError (401)              a malformed token
401 expired_access_token /...  AuthError (401)              refetch the (refreshed) token
403                            PermanentError (403)         the app / account may not do this
409 path/malformed_path,       InvalidConfigError (409)     the configured path is unusable
    disallowed_name
409 path/conflict,             PermanentError (409)         ``parameters.error`` is the summary
    insufficient_space, ...
409 too_many_write_operations  TransientError (409)         lock contention: retry
429 + Retry-After              RateLimitedError (429)       body ``error.retry_after`` (s), else
                                                            the header
5xx                            TransientError               the retry re-sends the same bytes
connect error                  TransientError (503)         not sent
timeout / cut connection       OutcomeUnknownError (504)    maybe written (502 for a cut); a
                                                            retry returns the same file
=============================  ===========================  ===================================
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpIntegration
from integrations.outcome import fail

__all__ = [
    "DEFAULT_BASE_URL",
    "DropboxIntegration",
    "api_arg_header",
    "content_hash",
    "credentials_not_found",
    "map_response_error",
    "map_transport_error",
]

DEFAULT_BASE_URL = "https://content.dropboxapi.com/2"
_HASH_BLOCK = 4 * 1024 * 1024
_MAX_TEXT_IN_MESSAGE = 300


def credentials_not_found() -> dict[str, Any]:
    """The seed's envelope for a bot without credentials for this service."""
    return fail(401, "Credentials not found")


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


def _json(response: httpx.Response) -> dict[str, Any] | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after_s(response: httpx.Response, body: dict[str, Any] | None) -> float | None:
    error = body.get("error") if body else None
    value = error.get("retry_after") if isinstance(error, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    header = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


def map_response_error(response: httpx.Response, *, route: str, token: str) -> IntegrationError:
    """Our typed error for a failed Dropbox answer (see the module's table)."""
    status = response.status_code
    body = _json(response)
    where = f"Dropbox {route}"
    summary = str(body.get("error_summary") or "") if body else ""
    tag = summary.split("/", 1)[0] if summary else ""
    params: dict[str, Any] = {"error": summary} if summary else {}

    if status == 400:
        # Plain text, and it may quote a header it could not parse: scrub the token.
        text = redact_text(response.text.strip(), SecretSet([token]))[:_MAX_TEXT_IN_MESSAGE]
        if "authorization" in text.lower():
            return AuthError(f"{where}: the access token is malformed ({text})")
        return InvalidConfigError(f"{where}: bad request: {text}; fix the action's config")
    if status == 401:
        return AuthError(
            f"{where}: the access token was rejected ({summary or 'unauthorized'}); refresh this "
            "bot's 'dropbox' OAuth token",
            parameters=params,
        )
    if status == 403:
        return PermanentError(
            f"{where}: forbidden ({summary or 'access denied'})", code=403, parameters=params
        )
    if status == 409:
        if "too_many_write_operations" in summary:
            return TransientError(
                f"{where}: too many concurrent writes in this Dropbox ({summary}); retry",
                code=409,
                parameters=params,
            )
        if any(reason in summary for reason in ("malformed_path", "disallowed_name")):
            return InvalidConfigError(
                f"{where}: the path is not allowed ({summary}); fix the action's path",
                code=409,
                parameters=params,
            )
        hint = {
            "path": "the target path conflicts or cannot be written",
            "content_hash_mismatch": "the bytes were corrupted on the way",
            "payload_too_large": "the file is too large for a single upload",
        }.get(tag, "the upload was refused")
        return PermanentError(f"{where}: {hint} ({summary})", code=409, parameters=params)
    if status == 429:
        return RateLimitedError(
            f"{where}: rate limited ({summary or 'too_many_requests'})",
            retry_after_s=_retry_after_s(response, body),
            parameters=params,
        )
    if status >= 500:
        return TransientError(f"{where}: HTTP {status}", code=status, parameters=params)
    return PermanentError(f"{where}: HTTP {status} ({summary})", code=status, parameters=params)


def map_transport_error(exc: httpx.TransportError, *, route: str) -> TransientError:
    """A transport failure; a retry re-sends the same bytes, which Dropbox does not duplicate."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(
            f"Dropbox {route}: could not connect ({name}); nothing was sent", code=503
        )
    code = 504 if isinstance(exc, httpx.TimeoutException) else 502
    return OutcomeUnknownError(
        f"Dropbox {route}: no complete answer ({name}); the upload may exist", code=code
    )


class DropboxIntegration(HttpIntegration):
    """Base of the Dropbox content actions: the shared client, the token and one POST."""

    service: ClassVar[str] = "dropbox"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    http_timeout_s: ClassVar[float] = 60.0  # uploads of up to 10 MB on slow links

    async def access_token(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's OAuth access token, or ``None`` when it has no Dropbox credentials."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="dropbox", strategy="oauth")
        if not creds:
            return None
        token = creds.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                "the bot's 'dropbox' credentials have no 'access_token'; store the OAuth token as "
                '{"access_token": "sl.…"}'
            )
        logger.add_secret(token)
        return token

    async def upload(
        self, route: str, arg: dict[str, Any], data: bytes, token: str
    ) -> dict[str, Any]:
        """POST ``data`` to a content ``route`` (e.g. ``files/upload``) with ``arg`` as the
        ``Dropbox-API-Arg`` header; the JSON answer, or a typed error."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
            "Dropbox-API-Arg": api_arg_header(arg),
        }
        try:
            response = await self.http.post(route, content=data, headers=headers)
        except httpx.TransportError as exc:
            raise map_transport_error(exc, route=route) from None
        if response.status_code != 200:
            raise map_response_error(response, route=route, token=token)
        body = _json(response)
        if body is None:
            raise TransientError(f"Dropbox {route}: HTTP 200 without a JSON object", code=502)
        return body
