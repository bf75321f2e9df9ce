"""What Google Translate (Cloud Translation Basic, v2) actions share: key, call, error mapping.

**The wire** (external-apis.md §7.3): ``POST https://translation.googleapis.com/language/
translate/v2?key=<API key>`` with JSON ``{"q": [...], "target", "source"?, "format"}``; the
answer is ``{"data": {"translations": [{"translatedText", "detectedSourceLanguage"?}]}}``.
The key rides in the query string, so a request URL never goes into a message of ours.

**Errors** are Google's JSON ``{"error": {"code", "message", "errors": [{"reason", "domain",
"message"}], "status", "details"?: [{"@type": ".../google.rpc.ErrorInfo", "reason"}]}}``;
:func:`map_error` decides by reason first, then by HTTP status:

=========================================  ======================  ============================
reason / status                            our error (code)        why
=========================================  ======================  ============================
userRateLimitExceeded, rateLimitExceeded,  RateLimitedError (429)  the per-minute quota; Google
RATE_LIMIT_EXCEEDED (403 or 429)                                   says it with a **403**
dailyLimitExceeded, quotaExceeded,         PermanentError (403)    a daily quota or billing:
BILLING_DISABLED                                                   no retry helps today
keyInvalid, API_KEY_INVALID, "API key      AuthError (401)         comes as an HTTP **400**
not valid" (any status)
other 401 / 403 (forbidden,                AuthError (same)        the key may not call this
accessNotConfigured, SERVICE_DISABLED...)                          API / project / referrer
HTTP 429 without a reason                  RateLimitedError (429)
400 (invalid value, required...)           InvalidConfigError      e.g. an unknown target
5xx                                        TransientError
other                                      PermanentError
=========================================  ======================  ============================

A wait hint is taken from ``Retry-After`` or a ``google.rpc.RetryInfo`` detail when Google sends
one; otherwise the processor backs off on its own (Google documents none for v2).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
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

__all__ = ["GOOGLETRANSLATE_BASE_URL", "GoogleTranslateIntegration", "map_error"]

GOOGLETRANSLATE_BASE_URL = "https://translation.googleapis.com"
RATE_REASONS = frozenset(
    {
        "userRateLimitExceeded",
        "rateLimitExceeded",
        "userRateLimitExceededUnreg",
        "RATE_LIMIT_EXCEEDED",
    }
)
QUOTA_REASONS = frozenset(
    {
        "dailyLimitExceeded",
        "dailyLimitExceededUnreg",
        "quotaExceeded",
        "BILLING_DISABLED",
        "billingNotEnabled",
    }
)
KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"})
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")
_MAX_DETAIL_CHARS = 300


def map_error(response: httpx.Response, *, what: str, key: str = "") -> IntegrationError:
    """Our typed error for a non-2xx Cloud Translation v2 answer."""
    status = response.status_code
    error = _error_object(response)
    reasons = _reasons(error)
    message = redact_text(str(error.get("message") or ""), SecretSet([key]) if key else None)
    message = message[:_MAX_DETAIL_CHARS]
    shown = ", ".join(sorted(reasons)) or str(error.get("status") or "")
    where = f"Google Translate {what}: HTTP {status}" + (f" {shown}" if shown else "")
    where += f": {message}" if message else ""
    if reasons & RATE_REASONS:
        return RateLimitedError(where, retry_after_s=_retry_after(response, error))
    if reasons & QUOTA_REASONS:
        return PermanentError(
            f"{where}; a daily quota or billing limit: raise it in the Google Cloud console",
            code=status if status in (403, 429) else 403,
        )
    if reasons & KEY_REASONS or "API key not valid" in message or "API key expired" in message:
        return AuthError(f"{where}; check this bot's 'googletranslate' API key")
    if status in (401, 403):
        return AuthError(
            f"{where}; the key may not call the Cloud Translation API (API disabled, key "
            "restrictions or project permissions)",
            code=status,
        )
    if status == 429:
        return RateLimitedError(where, retry_after_s=_retry_after(response, error))
    if status == 400:
        return InvalidConfigError(where)
    if status >= 500:
        return TransientError(where, code=status)
    return PermanentError(where, code=status)


def _error_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _reasons(error: Mapping[str, Any]) -> set[str]:
    reasons: set[str] = set()
    for name in ("errors", "details"):
        items = error.get(name)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.add(item["reason"])
    return reasons


def _retry_after(response: httpx.Response, error: Mapping[str, Any]) -> float | None:
    header = response.headers.get("Retry-After")
    try:
        seconds = float(header) if header is not None else math.nan
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds) and seconds >= 0:
        return seconds
    details = error.get("details")
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


class GoogleTranslateIntegration(HttpIntegration):
    """Base of the Google Translate actions: the ``googletranslate`` key and one POST helper.

    Credentials: ``{"api_key": "<Google Cloud API key>"}`` (``key`` accepted), strategy
    ``api_key``.
    """

    service: ClassVar[str] = "googletranslate"
    default_base_url: ClassVar[str] = GOOGLETRANSLATE_BASE_URL
    http_timeout_s: ClassVar[float] = 15.0

    async def api_key(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's API key, or ``None`` when it has no ``googletranslate`` credentials."""
        return await secret_field(
            resolver, bot_id, logger, provider="googletranslate", fields=("api_key", "key"),
            example='{"api_key": "<Google Cloud API key with the Cloud Translation API enabled>"}',
        )  # fmt: skip

    async def post_json(
        self, path: str, body: dict[str, Any], *, key: str, what: str
    ) -> dict[str, Any]:
        """POST ``body`` as JSON with the key; the parsed answer, or our typed error."""
        where = f"Google Translate {what}"
        try:
            response = await self.http.post(path, params={"key": key}, json=body)
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out waiting for Google", code=504) from None
        except httpx.TransportError as exc:
            raise TransientError(f"{where}: connection failed ({type(exc).__name__})") from None
        if not response.is_success:
            raise map_error(response, what=what, key=key)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PermanentError(f"{where}: the answer is not a JSON object", code=502)
        return answer
