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

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import IntegrationError, InvalidConfigError, PermanentError
from integrations.provider import Call, ErrorDetail, Provider, status_error
from integrations.service import Service

__all__ = [
    "API_KEY",
    "DEFAULT_BASE_URL",
    "NEWSAPI",
    "NewsAPI",
]

NEWSAPI = Service("newsapi", Category.NEWS, "#1E73BE")

DEFAULT_BASE_URL = "https://newsapi.org/v2"

_STATUS_OF = {
    "apiKeyInvalid": 401,
    "apiKeyMissing": 401,
    "apiKeyDisabled": 401,
    "rateLimited": 429,
    "unexpectedError": 500,
}
_CONFIG_CODES = frozenset(
    {"parameterInvalid", "parametersMissing", "sourcesTooMany", "sourceDoesNotExist"}
)


API_KEY = SecretField(
    provider=NEWSAPI.name, fields=("api_key",), strip=True,
    example='{"api_key": "<key from https://newsapi.org/account>"}',
)  # fmt: skip
"""The bot's NewsAPI key, in its ``newsapi`` credentials."""


class NewsAPI(Provider):
    """NewsAPI's answers: ``{"status": "error", "code", "message"}``; the code decides."""

    name = "NewsAPI"

    def is_error(self, response: httpx.Response, data: object) -> bool:
        ok = isinstance(data, dict) and data.get("status") == "ok"
        return response.status_code >= 300 or not ok

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        code = detail.code
        status = _STATUS_OF.get(code or "")
        if status is not None:  # the code says more than the status (a 2xx from a proxy?)
            return status_error(call, status, detail, headers=response.headers)
        if code == "apiKeyExhausted":
            return PermanentError(
                call.message(f"HTTP 429 {code}: the key's request quota is used up"), code=429
            )
        if code in _CONFIG_CODES:
            return InvalidConfigError(call.message(f"HTTP 400 {code}: {detail.message}"))
        return None
