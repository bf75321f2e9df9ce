"""What Google Maps actions share: the API key and how Google Maps answers errors.

**The wire.** ``GET https://maps.googleapis.com/maps/api/geocode/json?address=...&key=...``.
The key travels in the query string, so it is handed to the seam as a secret and a request URL
is never put into a message; httpx's own request log is covered by ``SecretRedactingFilter``.

**Errors arrive inside HTTP 200**: the body's ``status`` says what happened, with an optional
``error_message`` (external-apis.md §8.5). An error ``status`` decides, whatever the HTTP status;
without one (a proxy's page, Google's front end) the seam's table in
:mod:`integrations.provider` maps the HTTP status, and a 200 without one is not Google's answer:

====================  =============================  =============================================
``status``            our error (code)               why
====================  =============================  =============================================
OK, ZERO_RESULTS      (success)                      ZERO_RESULTS is an empty answer, not an error
OVER_QUERY_LIMIT      RateLimitedError (429)         over the per-minute quota; Retry-After if
                                                     sent, else the processor backs off
REQUEST_DENIED        AuthError (401)                missing/invalid key, API not enabled for it
OVER_DAILY_LIMIT      PermanentError (403)           bad key, billing off, payment invalid or a
                                                     daily cap: an operator fixes the project
INVALID_REQUEST       InvalidConfigError (400)       the address/latlng/components were rejected
UNKNOWN_ERROR         TransientError (503)           Google's server error; "may succeed if you
                                                     try again"
other, in a 2xx       PermanentError (502)           a status this code does not know
====================  =============================  =============================================
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import IntegrationError, InvalidConfigError, PermanentError
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, status_error
from integrations.service import Service

__all__ = [
    "API_KEY",
    "GOOGLEMAPS",
    "GOOGLEMAPS_BASE_URL",
    "GoogleMaps",
    "GoogleMapsIntegration",
]

GOOGLEMAPS = Service("googlemaps", Category.MAPS, "#34A853")

GOOGLEMAPS_BASE_URL = "https://maps.googleapis.com"
SUCCESS = frozenset({"OK", "ZERO_RESULTS"})
# The statuses that mean what an HTTP status would have said.
_STATUS_OF = {"OVER_QUERY_LIMIT": 429, "REQUEST_DENIED": 401, "UNKNOWN_ERROR": 503}

API_KEY = SecretField(
    provider="googlemaps", fields=("api_key", "key"),
    example='{"api_key": "<Google Maps Platform API key>"}',
)  # fmt: skip
"""The bot's Google Maps Platform key, in its ``googlemaps`` credentials (``key`` accepted)."""


class GoogleMaps(Provider):
    """Google Maps web services: ``{"status", "error_message"?}``, errors inside HTTP 200."""

    name = "Google Maps"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        status = data.get("status") if isinstance(data, dict) else None
        return not response.is_success or status not in SUCCESS

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(status, str):  # Google's front end, a proxy: not the API's body
            return super().detail(response, data) if not response.is_success else ErrorDetail()
        message = data.get("error_message")
        return ErrorDetail(code=status, message=message if isinstance(message, str) else None)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        code = detail.code
        said = f": {detail.message}" if detail.message else ""
        if code in _STATUS_OF:
            return status_error(call, _STATUS_OF[code], detail, headers=response.headers)
        if code == "OVER_DAILY_LIMIT":
            return PermanentError(
                call.message(
                    f"HTTP 403 {code}{said}; the key is invalid, billing is off, the payment "
                    "method expired or a self-imposed daily cap was hit (fix it in the Google "
                    "Cloud console; retrying today will not help)"
                ),
                code=403,
            )
        if code == "INVALID_REQUEST":
            return InvalidConfigError(
                call.message(f"HTTP 400 {code}{said}; check address/latlng/components")
            )
        if code is not None and response.is_success:
            return PermanentError(call.message(f"unexpected status {code!r}{said}"), code=502)
        return None


class GoogleMapsIntegration(KeyedHttpIntegration):
    """Base of the Google Maps actions: the ``googlemaps`` key and how Google answers.

    Credentials: ``{"api_key": "<key>"}`` (``key`` is accepted too), strategy ``api_key``.
    """

    service: ClassVar[str] = "googlemaps"
    default_base_url: ClassVar[str] = GOOGLEMAPS_BASE_URL
    provider = GoogleMaps()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 10.0
