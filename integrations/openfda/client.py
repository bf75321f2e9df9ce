"""What openFDA actions share: the optional API key, the HTTP call and the error mapping.

**The wire** (open.fda.gov/apis): ``GET https://api.fda.gov/<category>/<endpoint>.json`` with
``search``, ``limit`` (≤ 1000), ``skip`` (≤ 25000) and, optionally, ``api_key`` in the query.
The service is public: **a key is optional**. Without one openFDA allows 240 requests/min and
1,000/day per IP address; with one, 240/min and 120,000/day per key. So a bot without
``openfda`` credentials is served anonymously instead of getting "Credentials not found".
The key rides in the query string; a request URL never goes into a message of ours.

**Errors** use real HTTP statuses and ``{"error": {"code", "message"}}`` (openFDA's own, and
api.data.gov's gateway codes for keys and limits). :func:`map_error`:

=======================================  ======================  ================================
HTTP / ``error.code``                    our error (code)        why
=======================================  ======================  ================================
404 NOT_FOUND "No matches found!"        (success, no results)   **decided**: openFDA's way to
                                                                 say "nothing matched" (FDA
                                                                 maintainers, FDA/openfda#58)
400 BAD_REQUEST                          InvalidConfigError      e.g. limit/skip out of range
403 API_KEY_* (INVALID, MISSING,         AuthError (401)         the stored key is refused
DISABLED, UNAUTHORIZED)
403 other                                PermanentError (403)
429 OVER_RATE_LIMIT                      RateLimitedError (429)  per-minute or daily limit; no
                                                                 hint unless Retry-After is sent
5xx                                      TransientError
other                                    PermanentError
=======================================  ======================  ================================
"""

from __future__ import annotations

import math
from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.credentials.fields import secret_field
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpIntegration

__all__ = ["OPENFDA_BASE_URL", "OpenFdaIntegration", "map_error"]

OPENFDA_BASE_URL = "https://api.fda.gov"
_MAX_DETAIL_CHARS = 300


def map_error(response: httpx.Response, *, what: str, key: str = "") -> IntegrationError:
    """Our typed error for a non-2xx openFDA answer (404 "no matches" is handled before)."""
    status = response.status_code
    code, message = _error_body(response, key)
    said = f" {code}" if code else ""
    said += f": {message}" if message else ""
    where = f"openFDA {what}: HTTP {status}{said}"
    if status == 429:
        return RateLimitedError(where, retry_after_s=_seconds(response.headers.get("Retry-After")))
    if status == 400:
        return InvalidConfigError(where)
    if status in (401, 403) and (status == 401 or code.startswith("API_KEY")):
        return AuthError(
            f"{where}; check this bot's 'openfda' api_key (or remove it: the API works without "
            "one, with lower daily limits)"
        )
    if status >= 500:
        return TransientError(where, code=status)
    return PermanentError(where, code=status)


def _error_body(response: httpx.Response, key: str) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    code = error.get("code") if isinstance(error.get("code"), str) else ""
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    text = redact_text(str(message), SecretSet([key]) if key else None)
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 3] + "..."
    return str(code), text


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class OpenFdaIntegration(HttpIntegration):
    """Base of the openFDA actions: the optional ``openfda`` key and one GET helper.

    Credentials (optional): ``{"api_key": "<openFDA / api.data.gov key>"}``.
    """

    service: ClassVar[str] = "openfda"
    default_base_url: ClassVar[str] = OPENFDA_BASE_URL
    http_timeout_s: ClassVar[float] = 15.0

    async def api_key(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's key, or ``None`` to call anonymously (no ``openfda`` credentials)."""
        return await secret_field(
            resolver, bot_id, logger, provider="openfda", fields=("api_key", "key"),
            example='{"api_key": "<key from open.fda.gov/apis/authentication>"} or remove '
            "them to call anonymously",
        )  # fmt: skip

    async def get_json(
        self, path: str, params: dict[str, str], *, key: str | None, what: str
    ) -> dict[str, Any] | None:
        """GET ``path``: the parsed body, ``None`` when openFDA says "No matches found!" (its
        404 NOT_FOUND), or our typed error."""
        query = {**params, "api_key": key} if key else params
        try:
            response = await self.http.get(path, params=query)
        except httpx.TimeoutException:
            raise TransientError(
                f"openFDA {what}: timed out waiting for openFDA", code=504
            ) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"openFDA {what}: connection failed ({type(exc).__name__})"
            ) from None
        if response.status_code == 404 and _error_body(response, key or "")[0] == "NOT_FOUND":
            return None
        if not response.is_success:
            raise map_error(response, what=what, key=key or "")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PermanentError(f"openFDA {what}: the answer is not a JSON object", code=502)
        return body
