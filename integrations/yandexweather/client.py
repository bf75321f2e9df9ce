"""What Yandex Weather actions share: the key and how the Weather API answers errors.

**The wire** (verified in yandex.com/dev/weather/doc, "Quick start", "Getting access" and
"Forecast", December 2026): API v3 is GraphQL only, ``POST
https://api.weather.yandex.ru/graphql/query`` with ``{"query": ...}``, the key in the
``X-Yandex-Weather-Key`` header (the legacy v2 ``GET /v2/forecast`` with ``X-Yandex-API-Key`` is
what the older plans used). The query is a constant of ours; the tenant's values travel as typed
GraphQL ``variables``, never as query text.

**Errors.** A GraphQL answer is HTTP 200 even when it failed: ``{"errors": [{"message",
"extensions"?}], "data": null | partial}``. Any ``errors`` make the answer an error, partial data
included. Outside GraphQL, the API's documented failure is **HTTP 403**, for four reasons it
does not tell apart by status ("Possible errors"): no key, a wrong URL, an expired plan (the
Test plan lasts 30 days), or the plan's daily request cap. The docs show no 403 body; where it
has a reason (plain text, ``{"message"}`` or GraphQL ``errors``), its words decide:

=====================================  ======================  ===================================
answer                                 our error (code)        why
=====================================  ======================  ===================================
403 saying the plan/key has expired    AuthError (403)         the key is dead until the owner
                                                               renews the plan or stores a new
                                                               key: refetch once, then fail
403 saying a (daily) limit/quota is    RateLimitedError        waits until the next day (the
exceeded                               (429)                   docs: "wait for the next day"),
                                                               taken as 00:00 Moscow time
403, any other or no reason            AuthError (403)         missing or wrong key (a new key
                                                               activates a few minutes after
                                                               it is created)
200 + errors, extensions.code          as the 403 rows         the same refusals, said in GraphQL
UNAUTHENTICATED/FORBIDDEN
200 + errors, code TOO_MANY_REQUESTS   RateLimitedError        a limit said in GraphQL
or RATE_LIMITED, or limit words
200 + errors, code                     TransientError (503)    the server failed, not the query
INTERNAL_SERVER_ERROR
200 + any other errors                 PermanentError (400)    the query or its values were
                                                               refused: the same call gets the
                                                               same answer
200 without ``data.weatherByPoint``    TransientError (502)    not the API's answer (a proxy's)
=====================================  ======================  ===================================

Other statuses follow the seam's table (:mod:`integrations.provider`): 429 rate limited with
Retry-After, 5xx transient (a read is safe to repeat), other 4xx permanent.

**Not verified** (no body is documented): the 403 bodies' wording, the GraphQL
``extensions.code`` values (the usual GraphQL server conventions are assumed), and the hour the
daily cap resets. The fake (:mod:`integrations.yandexweather.testing`) answers in the shapes
assumed here.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import (
    AuthError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "API_KEY",
    "DEFAULT_BASE_URL",
    "YANDEXWEATHER",
    "YandexWeather",
    "seconds_until_reset",
]

YANDEXWEATHER = Service("yandexweather", Category.WEATHER, "#FFCC00")

DEFAULT_BASE_URL = "https://api.weather.yandex.ru"

API_KEY = SecretField(
    provider=YANDEXWEATHER.name, fields=("api_key", "key"), strip=True,
    example='{"api_key": "<key from https://yandex.ru/pogoda/b2b/console>"}',
)  # fmt: skip
"""The bot's Weather API key, in its ``yandexweather`` credentials (``key`` accepted)."""

_MSK_OFFSET_S = 3 * 3600  # Moscow keeps UTC+3 all year
_DAY_S = 86_400
_EXPIRED = re.compile(r"expir|истек|истёк|просроч", re.IGNORECASE)
_LIMIT = re.compile(r"limit|quota|exceed|too many|лимит|превыш|квот", re.IGNORECASE)
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "UNAUTHORIZED", "FORBIDDEN"})
_LIMIT_CODES = frozenset({"TOO_MANY_REQUESTS", "RATE_LIMITED", "QUOTA_EXCEEDED"})
_MAX_ERRORS_SHOWN = 3


def seconds_until_reset(now: float | None = None) -> float:
    """Seconds from ``now`` (Unix time) to the next 00:00 Moscow time, when a daily cap resets."""
    moscow = (time.time() if now is None else now) + _MSK_OFFSET_S
    return float(_DAY_S - moscow % _DAY_S)


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _graphql_errors(data: Any) -> list[dict[str, Any]]:
    """The answer's GraphQL ``errors``, each as an object (a bare string becomes its message)."""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [e if isinstance(e, dict) else {"message": e} for e in errors]


class YandexWeather(Provider):
    """The Weather API's answers: GraphQL ``errors`` inside HTTP 200, and a 403 of four causes."""

    name = "Yandex Weather"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        if not response.is_success or _graphql_errors(data) or not isinstance(data, dict):
            return True
        found = data.get("data")
        return not (isinstance(found, dict) and isinstance(found.get("weatherByPoint"), dict))

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """GraphQL ``errors`` (their messages, the first ``extensions.code``), else the body's
        ``message``, else a short plain-text body (a 403's reason)."""
        errors = _graphql_errors(data)
        if errors:
            said = [m for m in (_text(e.get("message")) for e in errors) if m]
            shown = "; ".join(said[:_MAX_ERRORS_SHOWN]) or "GraphQL error without a message"
            extensions = errors[0].get("extensions")
            code = _text(extensions.get("code")) if isinstance(extensions, dict) else None
            return ErrorDetail(code=code, message=shown)
        if isinstance(data, dict):
            return super().detail(response, data)
        head = response.content[:400] if data is None else b""
        body = " ".join(head.decode("utf-8", "replace").split())[:200]
        plain = body and "<" not in body and body.isprintable()
        return ErrorDetail(message=body if plain else None)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        said = detail.message or ""
        errors = _graphql_errors(_json_of(response)) if response.is_success else []
        if response.status_code == 403:
            return _forbidden(call, detail, label="HTTP 403")
        if not errors:
            return None
        label = "GraphQL error" + (f" {detail.code}" if detail.code else "")
        if detail.code in _AUTH_CODES:
            return _forbidden(call, detail, label=label)
        if detail.code in _LIMIT_CODES or _LIMIT.search(said):
            return _daily_cap(call, detail)
        if detail.code == "INTERNAL_SERVER_ERROR":
            return TransientError(call.message(said, label=label), code=503)
        return PermanentError(call.message(said, label=label), code=400)


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _forbidden(call: Call, detail: ErrorDetail, *, label: str) -> IntegrationError:
    """A refused key: an expired plan, the daily cap, or a missing or wrong key."""
    said = detail.message or "Forbidden"
    if _LIMIT.search(said) and not _EXPIRED.search(said):
        return _daily_cap(call, detail)
    if _EXPIRED.search(said):
        why = (
            "the key's plan has expired (the Test plan lasts 30 days): renew it in the Yandex "
            "Weather console or store a key of a current plan"
        )
    else:
        why = "a missing or wrong key (a new key activates a few minutes after creation)"
    return AuthError(call.message(f"{said}; {why}", label=label), code=403)


def _daily_cap(call: Call, detail: ErrorDetail) -> RateLimitedError:
    said = detail.message or "request limit exceeded"
    return RateLimitedError(
        call.message(
            f"{said}; the plan's daily request limit is used up: it resets the next day "
            "(00:00 Moscow time), or change the plan"
        ),
        retry_after_s=seconds_until_reset(),
    )
