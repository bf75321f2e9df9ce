"""What Google Maps actions share: the API-key lookup, the HTTP call and the error mapping.

**The wire.** ``GET https://maps.googleapis.com/maps/api/geocode/json?address=...&key=...``.
The key travels in the query string, so a request URL is never put into a message or a log
line of ours; httpx's own request log is covered by ``SecretRedactingFilter`` (``key=...``).

**Errors arrive inside HTTP 200**: the body's ``status`` says what happened, with an optional
``error_message`` (external-apis.md §8.5). :func:`raise_for_status` maps it:

====================  =============================  =============================================
``status``            our error (code)               why
====================  =============================  =============================================
OK, ZERO_RESULTS      (success)                      ZERO_RESULTS is an empty answer, not an error
OVER_QUERY_LIMIT      RateLimitedError (429)         over the per-minute quota; no hint, back off
REQUEST_DENIED        AuthError (401)                missing/invalid key, API not enabled for it
OVER_DAILY_LIMIT      PermanentError (403)           bad key, billing off, payment invalid or a
                                                     daily cap: an operator fixes the project
INVALID_REQUEST       InvalidConfigError (400)       the address/latlng/components were rejected
UNKNOWN_ERROR         TransientError (503)           Google's server error; "may succeed if you
                                                     try again"
other                 PermanentError (502)           a status this code does not know
====================  =============================  =============================================

Transport failures (timeouts, resets) become :class:`TransientError` without the URL; a 5xx
HTTP status is transient, a 4xx HTTP status (a proxy, a bad base URL) permanent.
"""

from __future__ import annotations

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

__all__ = ["GOOGLEMAPS_BASE_URL", "GoogleMapsIntegration", "raise_for_status"]

GOOGLEMAPS_BASE_URL = "https://maps.googleapis.com"
_SUCCESS = frozenset({"OK", "ZERO_RESULTS"})


def raise_for_status(body: dict[str, Any], *, api: str, key: str = "") -> None:
    """Raise our typed error for a Google Maps web-service body whose ``status`` is an error."""
    status = body.get("status")
    if status in _SUCCESS:
        return
    detail = body.get("error_message")
    said = f": {_scrub(str(detail), key)}" if isinstance(detail, str) and detail else ""
    where = f"Google {api}"
    if status == "OVER_QUERY_LIMIT":
        raise RateLimitedError(f"{where}: OVER_QUERY_LIMIT, over the query quota{said}")
    if status == "REQUEST_DENIED":
        raise AuthError(
            f"{where}: REQUEST_DENIED{said}; check this bot's 'googlemaps' API key and that the "
            "Geocoding API is enabled for its project"
        )
    if status == "OVER_DAILY_LIMIT":
        raise PermanentError(
            f"{where}: OVER_DAILY_LIMIT{said}; the key is invalid, billing is off, the payment "
            "method expired or a self-imposed daily cap was hit (fix it in the Google Cloud "
            "console; retrying today will not help)",
            code=403,
        )
    if status == "INVALID_REQUEST":
        raise InvalidConfigError(f"{where}: INVALID_REQUEST{said}; check address/latlng/components")
    if status == "UNKNOWN_ERROR":
        raise TransientError(f"{where}: UNKNOWN_ERROR, Google's server failed{said}")
    raise PermanentError(f"{where}: unexpected status {status!r}{said}", code=502)


def _scrub(text: str, key: str) -> str:
    return redact_text(text, SecretSet([key]) if key else None)


class GoogleMapsIntegration(HttpIntegration):
    """Base of the Google Maps actions: the ``googlemaps`` credentials and one GET helper.

    Credentials: ``{"api_key": "<key>"}`` (``key`` is accepted too), strategy ``api_key``.
    """

    service: ClassVar[str] = "googlemaps"
    default_base_url: ClassVar[str] = GOOGLEMAPS_BASE_URL
    http_timeout_s: ClassVar[float] = 10.0

    async def api_key(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's API key, or ``None`` when it has no ``googlemaps`` credentials."""
        return await secret_field(
            resolver, bot_id, logger, provider="googlemaps", fields=("api_key", "key"),
            example='{"api_key": "<Google Maps Platform API key>"}',
        )  # fmt: skip

    async def get_json(
        self, path: str, params: dict[str, str], *, key: str, api: str
    ) -> dict[str, Any]:
        """GET ``path`` with ``params`` plus the key; the parsed body, or our typed error."""
        try:
            response = await self.http.get(path, params={**params, "key": key})
        except httpx.TimeoutException:
            raise TransientError(f"Google {api}: timed out waiting for Google", code=504) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"Google {api}: connection failed ({type(exc).__name__})"
            ) from None
        return _parse(response, api=api, key=key)


def _parse(response: httpx.Response, *, api: str, key: str) -> dict[str, Any]:
    where = f"Google {api}"
    code = response.status_code
    if code >= 500:
        raise TransientError(f"{where}: HTTP {code} from Google", code=code)
    if code == 429:
        raise RateLimitedError(f"{where}: HTTP 429 Too Many Requests")
    error: IntegrationError | None = None
    if code != 200:
        error = PermanentError(f"{where}: unexpected HTTP {code}", code=code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        raise error or PermanentError(f"{where}: the answer is not a Geocoding JSON body", code=502)
    raise_for_status(body, api=api, key=key)
    if error is not None:
        raise error
    return body
