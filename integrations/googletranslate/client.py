"""What Google Translate (Cloud Translation Basic, v2) actions share: the key and Google's errors.

**The wire** (external-apis.md §7.3): ``POST https://translation.googleapis.com/language/
translate/v2?key=<API key>`` with JSON ``{"q": [...], "target", "source"?, "format"}``; the
answer is ``{"data": {"translations": [{"translatedText", "detectedSourceLanguage"?}]}}``.
The key rides in the query string: it is handed to the seam as a secret, and a request URL never
goes into a message.

**Errors** are Google's JSON ``{"error": {"code", "message", "errors": [{"reason", "domain",
"message"}], "status", "details"?: [{"@type": ".../google.rpc.ErrorInfo", "reason"}]}}``.
The reasons decide where Google's status misleads; everything else is the seam's table
(:mod:`integrations.provider`: 401/403 auth, 429 rate limited, 5xx transient, 4xx permanent):

=========================================  ======================  ============================
reason / status                            our error (code)        why
=========================================  ======================  ============================
userRateLimitExceeded, rateLimitExceeded,  RateLimitedError (429)  the per-minute quota; Google
RATE_LIMIT_EXCEEDED (403 or 429)                                   says it with a **403**
dailyLimitExceeded, quotaExceeded,         PermanentError (403)    a daily quota or billing:
BILLING_DISABLED                                                   no retry helps today
keyInvalid, API_KEY_INVALID, "API key      AuthError (401)         comes as an HTTP **400**
not valid" (any status)
400 with Google's error body               InvalidConfigError      e.g. an unknown target
=========================================  ======================  ============================

A wait hint is taken from ``Retry-After`` or else a ``google.rpc.RetryInfo`` detail when Google
sends one; otherwise the processor backs off on its own (Google documents none for v2).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import IntegrationError, InvalidConfigError, PermanentError
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s, status_error
from integrations.service import Service

__all__ = [
    "API_KEY",
    "GOOGLETRANSLATE",
    "GOOGLETRANSLATE_BASE_URL",
    "GoogleTranslate",
    "GoogleTranslateIntegration",
]

GOOGLETRANSLATE = Service("googletranslate", Category.TRANSLATION, "#4285F4")

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
_KEY_MESSAGES = ("API key not valid", "API key expired")
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")
_SEPARATOR = ", "  # between the reasons of ErrorDetail.code

API_KEY = SecretField(
    provider="googletranslate", fields=("api_key", "key"),
    example='{"api_key": "<Google Cloud API key with the Cloud Translation API enabled>"}',
)  # fmt: skip
"""The bot's Google Cloud API key, in its ``googletranslate`` credentials (``key`` accepted)."""


class GoogleTranslate(Provider):
    """Cloud Translation v2: Google's ``{"error": {...}}``; its reasons beat its status."""

    name = "Google Translate"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        translated = isinstance(data, dict) and isinstance(data.get("data"), dict)
        return not response.is_success or not translated

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """Google's reasons (sorted, joined) as the code, else its ``status``; the wait from
        ``Retry-After``, else from a ``RetryInfo`` detail."""
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return super().detail(response, data)
        reasons = sorted(_reasons(error))
        state = error.get("status")
        message = error.get("message")
        wait = retry_after_s(response.headers)
        return ErrorDetail(
            code=_SEPARATOR.join(reasons) or (state if isinstance(state, str) else None),
            message=message if isinstance(message, str) and message else None,
            retry_after_s=_retry_info(error) if wait is None else wait,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        reasons = set((detail.code or "").split(_SEPARATOR))
        text = detail.message or ""
        said = f"HTTP {status} {detail.code}" + (f": {text}" if text else "")
        if reasons & RATE_REASONS:
            return status_error(call, 429, detail, headers=response.headers)
        if reasons & QUOTA_REASONS:
            return PermanentError(
                call.message(
                    f"{said}; a daily quota or billing limit: raise it in the Google Cloud console"
                ),
                code=status if status in (403, 429) else 403,
            )
        if reasons & KEY_REASONS or any(words in text for words in _KEY_MESSAGES):
            return status_error(call, 401, detail)
        if status == 400 and detail.code is not None:  # Google's own 400: the config's values
            return InvalidConfigError(call.message(said))
        return None


def _reasons(error: dict[str, Any]) -> set[str]:
    reasons: set[str] = set()
    for name in ("errors", "details"):
        items = error.get(name)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.add(item["reason"])
    return reasons


def _retry_info(error: dict[str, Any]) -> float | None:
    details = error.get("details")
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


class GoogleTranslateIntegration(KeyedHttpIntegration):
    """Base of the Google Translate actions: the ``googletranslate`` key and Google's errors.

    Credentials: ``{"api_key": "<Google Cloud API key>"}`` (``key`` accepted), strategy
    ``api_key``.
    """

    service: ClassVar[str] = "googletranslate"
    default_base_url: ClassVar[str] = GOOGLETRANSLATE_BASE_URL
    provider = GoogleTranslate()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 15.0
