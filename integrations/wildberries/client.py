"""What Wildberries seller-API actions share: the token lookup, the HTTP call, the error mapping.

**The wire** (dev.wildberries.ru, "Общее" and "Работа с товарами"): one host per API family
(this package talks to ``https://marketplace-api.wildberries.ru``), JSON bodies, and the seller's
API token **raw** in ``Authorization`` (no ``Bearer`` prefix). One token is issued per seller
with access categories; a token without the "Marketplace" category is refused.

**Errors** come with real HTTP statuses. Auth and rate-limit errors are
``application/problem+json`` (``{"title", "detail", "code", "requestId", "origin", "status",
"statusText", "timestamp"}``); method errors are ``{"code", "message", "data"}``.
:func:`map_response` turns them into ours:

======  =============================  ====================================================
HTTP    our error (code)               why
======  =============================  ====================================================
400     InvalidConfigError (400)       IncorrectRequestBody / IncorrectParameter: our values
401     AuthError (401)                token expired, revoked or malformed
402     PermanentError (402)           a catalogue solution's balance is empty
403     AuthError (403)                the token lacks the category or the seller's access
404     PermanentError (404)           unknown warehouse (or a path the token cannot see)
409     PermanentError (409)           conflicting data (counted as 10 requests by WB)
429     RateLimitedError (429)         ``X-Ratelimit-Retry`` seconds (then ``Retry-After``)
5xx     TransientError (same)          WB's side; a read is safe to repeat
other   PermanentError (same)
======  =============================  ====================================================

WB's token bucket charges failed 4xx requests extra, so nothing here retries on its own.
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

__all__ = ["WILDBERRIES_MARKETPLACE_URL", "WildberriesIntegration", "map_response"]

WILDBERRIES_MARKETPLACE_URL = "https://marketplace-api.wildberries.ru"
_MAX_DETAIL_CHARS = 300


def map_response(response: httpx.Response, *, method: str, token: str = "") -> IntegrationError:
    """Our typed error for a non-2xx Wildberries answer to ``method`` (e.g. "stocks")."""
    code = response.status_code
    detail = _detail(response, token)
    said = f": {detail}" if detail else ""
    where = f"Wildberries {method}: HTTP {code}"
    if code == 429:
        retry_after = _seconds(response.headers.get("X-Ratelimit-Retry"))
        if retry_after is None:
            retry_after = _seconds(response.headers.get("Retry-After"))
        hint = f", retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimitedError(f"{where} too many requests{hint}{said}", retry_after_s=retry_after)
    if code == 400:
        return InvalidConfigError(f"{where} bad request{said}")
    if code == 401:
        return AuthError(
            f"{where} unauthorized{said}; check this bot's 'wildberries' token (it expires; "
            "make a new one in the seller's profile, Settings > API access)"
        )
    if code == 403:
        return AuthError(
            f"{where} forbidden{said}; the token needs the 'Marketplace' category", code=403
        )
    if code >= 500:
        return TransientError(f"{where} server error{said}", code=code)
    return PermanentError(f"{where}{said}", code=code)


def _detail(response: httpx.Response, token: str) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [
        str(body[name])
        for name in ("title", "detail", "code", "message")
        if isinstance(body.get(name), str) and body[name]
    ]
    text = redact_text("; ".join(dict.fromkeys(parts)), SecretSet([token]) if token else None)
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 3] + "..."


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class WildberriesIntegration(HttpIntegration):
    """Base of the Wildberries actions: the ``wildberries`` token and one JSON POST helper.

    Credentials: ``{"token": "<seller API token>"}`` (``api_key`` accepted), strategy ``api_key``.
    """

    service: ClassVar[str] = "wildberries"
    default_base_url: ClassVar[str] = WILDBERRIES_MARKETPLACE_URL
    http_timeout_s: ClassVar[float] = 15.0

    async def token(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The seller's API token, or ``None`` when the bot has no ``wildberries`` credentials."""
        return await secret_field(
            resolver, bot_id, logger, provider="wildberries", fields=("token", "api_key"),
            example='{"token": "<seller API token with the Marketplace category>"}',
        )  # fmt: skip

    async def post_json(self, path: str, body: Any, *, token: str, method: str) -> Any:
        """POST ``body`` as JSON; the parsed 2xx answer, or our typed error."""
        where = f"Wildberries {method}"
        try:
            response = await self.http.post(path, json=body, headers={"Authorization": token})
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out waiting for Wildberries", code=504) from None
        except httpx.TransportError as exc:
            raise TransientError(f"{where}: connection failed ({type(exc).__name__})") from None
        if not response.is_success:
            raise map_response(response, method=method, token=token)
        try:
            return response.json()
        except ValueError:
            raise PermanentError(f"{where}: the answer is not JSON", code=502) from None
