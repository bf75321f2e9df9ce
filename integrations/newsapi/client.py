"""Shared pieces of the NewsAPI actions: credentials and the mapping of NewsAPI's errors.

NewsAPI answers errors with a real HTTP status and ``{"status": "error", "code", "message"}``
(https://newsapi.org/docs/errors). The ``code`` decides, the status is the fallback:

=======================================================  ==========================================
code (HTTP status)                                        our error
=======================================================  ==========================================
apiKeyInvalid, apiKeyMissing, apiKeyDisabled (401)       AuthError
rateLimited (429)                                        RateLimitedError (Retry-After if sent; on
                                                         the Developer plan this is its 100/24 h,
                                                         50/12 h quota, said in the message)
apiKeyExhausted (429)                                    PermanentError: no requests left on the key
maximumResultsReached (426)                              PermanentError: the Developer plan only
                                                         pages through the first 100 results
parameterInvalid, parametersMissing, sourcesTooMany,     InvalidConfigError (the config's values)
sourceDoesNotExist (400)
unexpectedError (500), any 5xx                           TransientError
=======================================================  ==========================================
"""

from __future__ import annotations

import math
from typing import Any
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

__all__ = ["DEFAULT_BASE_URL", "SERVICE", "api_key", "map_error_response", "map_transport_error"]

SERVICE = "newsapi"
DEFAULT_BASE_URL = "https://newsapi.org/v2"

_AUTH_CODES = frozenset({"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled"})
_CONFIG_CODES = frozenset(
    {"parameterInvalid", "parametersMissing", "sourcesTooMany", "sourceDoesNotExist"}
)


async def api_key(
    resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
) -> str | None:
    """The bot's NewsAPI key, or ``None`` when it has no ``newsapi`` credentials."""
    return await secret_field(
        resolver, bot_id, logger, provider=SERVICE, fields=("api_key",), strip=True,
        example='{"api_key": "<key from https://newsapi.org/account>"}',
    )  # fmt: skip


def _retry_after(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The ``{"status": "error", "code", "message"}`` body, or ``{}`` when it is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def map_error_response(response: httpx.Response, *, key: str) -> IntegrationError:
    """Our typed error for a NewsAPI error answer (any status, ``status: "error"`` body)."""
    status = response.status_code
    body = error_body(response)
    code = body.get("code") if isinstance(body.get("code"), str) else None
    text = body.get("message") if isinstance(body.get("message"), str) else None
    # NewsAPI's messages never echo the key, but scrub it anyway: they end up in results.
    detail = redact_text(text or response.reason_phrase or "no message", SecretSet([key]))
    message = f"NewsAPI HTTP {status}" + (f" {code}" if code else "") + f": {detail}"

    if code in _AUTH_CODES or status == 401:
        return AuthError(message, code=401)
    if code == "rateLimited" or (status == 429 and code != "apiKeyExhausted"):
        return RateLimitedError(message, retry_after_s=_retry_after(response.headers))
    if code == "apiKeyExhausted":
        return PermanentError(f"{message} (the key's request quota is used up)", code=status)
    if code in _CONFIG_CODES:
        return InvalidConfigError(message, code=400)
    if status < 400:  # a 2xx without status "ok" (a proxy's page?): not NewsAPI's answer
        return TransientError(f"{message} (not a NewsAPI answer)", code=502)
    if status >= 500 or code == "unexpectedError" or status in (408, 425):
        return TransientError(message, code=status)
    return PermanentError(message, code=status)


def map_transport_error(exc: httpx.HTTPError) -> IntegrationError:
    """Our typed error for an httpx failure. Reads are safe to retry, so all are transient."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"NewsAPI: timed out ({name})", code=504)
    return TransientError(f"NewsAPI: connection failed ({name})", code=503)
