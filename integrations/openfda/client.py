"""What openFDA actions share: the optional API key and how openFDA answers errors.

**The wire** (open.fda.gov/apis): ``GET https://api.fda.gov/<category>/<endpoint>.json`` with
``search``, ``limit`` (≤ 1000), ``skip`` (≤ 25000) and, optionally, ``api_key`` in the query.
The service is public: **a key is optional**. Without one openFDA allows 240 requests/min and
1,000/day per IP address; with one, 240/min and 120,000/day per key. So a bot without
``openfda`` credentials is served anonymously instead of getting "Credentials not found".
The key rides in the query string: it is handed to the seam as a secret, and a request URL never
goes into a message.

**Errors** use real HTTP statuses and ``{"error": {"code", "message"}}`` (openFDA's own, and
api.data.gov's gateway codes for keys and limits), so the seam's table
(:mod:`integrations.provider`: 401 auth, 429 rate limited, 5xx transient, other 4xx permanent)
decides, but for:

=======================================  ======================  ================================
HTTP / ``error.code``                    our error (code)        why
=======================================  ======================  ================================
404 NOT_FOUND "No matches found!"        (success, no results)   **decided**: openFDA's way to
                                                                 say "nothing matched" (FDA
                                                                 maintainers, FDA/openfda#58)
400 with openFDA's error body            InvalidConfigError      e.g. limit/skip out of range
403 API_KEY_* (INVALID, MISSING,         AuthError (403)         the stored key is refused; the
DISABLED, UNAUTHORIZED)                                          hint says it may be removed
403 other                                PermanentError (403)    not about the key
2xx without ``results``                  TransientError (502)    not openFDA's answer (a proxy)
=======================================  ======================  ================================
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.credentials.fields import SecretField
from integrations.errors import AuthError, IntegrationError, InvalidConfigError, PermanentError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "API_KEY",
    "OPENFDA",
    "OPENFDA_BASE_URL",
    "OpenFda",
    "OpenFdaIntegration",
    "no_matches",
]

OPENFDA = Service("openfda", Category.MEDICINE, "#007CBA")

OPENFDA_BASE_URL = "https://api.fda.gov"

API_KEY = SecretField(
    provider="openfda", fields=("api_key", "key"),
    example='{"api_key": "<key from open.fda.gov/apis/authentication>"} or remove them to call '
    "anonymously",
)  # fmt: skip
"""The bot's optional openFDA / api.data.gov key: ``read`` answers ``None`` without ``openfda``
credentials, and the action then calls anonymously."""


def no_matches(response: httpx.Response, data: Any) -> bool:
    """Whether the answer is openFDA's 404 NOT_FOUND "No matches found!" (an empty result)."""
    error = data.get("error") if isinstance(data, dict) else None
    return (
        response.status_code == 404 and isinstance(error, dict) and error.get("code") == "NOT_FOUND"
    )


class OpenFda(Provider):
    """openFDA: real statuses with ``{"error": {"code", "message"}}``; 404 is "no matches"."""

    name = "openFDA"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        if no_matches(response, data):
            return False
        found = isinstance(data, dict) and isinstance(data.get("results"), list)
        return not response.is_success or not found

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, code = response.status_code, detail.code
        label = f"HTTP {status} {code}" if code else f"HTTP {status}"  # no code: not openFDA's body
        said = f"{label}: {detail.message or 'no message'}"
        if status == 400 and code is not None:
            return InvalidConfigError(call.message(said))
        if status == 403 and code is not None and code.startswith("API_KEY"):
            return AuthError(
                call.message(
                    f"{said}; check this bot's 'openfda' key, or remove it: openFDA answers "
                    "without one too, with lower daily limits"
                ),
                code=403,
            )
        if status == 403:
            return PermanentError(call.message(said), code=403)
        return None


class OpenFdaIntegration(HttpIntegration, CredentialedIntegration[str]):
    """Base of the openFDA actions: the optional ``openfda`` key and how openFDA answers.

    Credentials (optional): ``{"api_key": "<openFDA / api.data.gov key>"}``.
    """

    service: ClassVar[str] = "openfda"
    default_base_url: ClassVar[str] = OPENFDA_BASE_URL
    provider = OpenFda()
    http_timeout_s: ClassVar[float] = 15.0

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str:
        """The bot's key, or ``""`` to call anonymously: a bot needs no openFDA credentials."""
        return await API_KEY.read(resolver, bot_id, logger) or ""
