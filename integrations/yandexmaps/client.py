"""What Yandex Maps actions share: the key and how the Geocoder HTTP API answers errors.

**The wire** (verified in yandex.ru/maps-api/docs/geocoder-api, "Request format", and
yandex.com/dev/geocode/doc "Response format", December 2026): ``GET
https://geocode-maps.yandex.ru/v1/?apikey=&geocode=&lang=&format=json&results=`` (``/v1`` in
the current docs; ``/1.x`` in the older ones, same parameters and answer). Coordinates go both
ways as **"longitude latitude"**: ``geocode=<lon>,<lat>`` for a reverse lookup (``sco=longlat``,
the default) and ``GeoObject.Point.pos`` = ``"37.587614 55.753083"``.

The key travels **in the query string**: it is handed to the seam as a secret, no request URL
ever goes into a message, and httpx's own request log line is blanked by
``SecretRedactingFilter`` (``apikey`` is a secret-shaped name).

**Errors** come with real HTTP statuses and the body ``{"statusCode", "error", "message"}``
(e.g. ``{"statusCode": 403, "error": "Forbidden", "message": "Invalid api key"}``). The seam's
table (:mod:`integrations.provider`) maps them, but for:

======  =========================  ===========================================================
HTTP    our error                  why
======  =========================  ===========================================================
400     InvalidConfigError         the geocode/lang/kind/results values were refused ("Missing
        (with a message)           geocode parameter"); a 400 without one is PermanentError
403     AuthError (403)            missing or invalid key; a new key activates within 15 min
429     RateLimitedError           over 50 requests/s, or the free tier's 1,000 requests a day
                                   (the docs say the daily cap answers 429 too): Retry-After
                                   if sent, else the processor backs off
======  =========================  ===========================================================

A 200 without ``response.GeoObjectCollection`` is not the Geocoder's answer (a proxy's): a
TransientError (502). Nothing found is a success with no results (as ``googlemaps_geocode``
answers ``ZERO_RESULTS``), not an error.

**Not verified**: the exact ``message`` texts (only "Missing geocode parameter" and "Invalid api
key" were seen in public reports) and whether the daily-cap 429 carries Retry-After.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import IntegrationError, InvalidConfigError
from integrations.provider import Call, ErrorDetail, Provider, status_error
from integrations.service import Service

__all__ = ["API_KEY", "DEFAULT_BASE_URL", "YANDEXMAPS", "YandexGeocoder"]

YANDEXMAPS = Service("yandexmaps", Category.MAPS, "#FC3F1D")

DEFAULT_BASE_URL = "https://geocode-maps.yandex.ru"

API_KEY = SecretField(
    provider=YANDEXMAPS.name, fields=("api_key", "apikey"), strip=True,
    example='{"api_key": "<Geocoder HTTP API key from https://developer.tech.yandex.ru>"}',
)  # fmt: skip
"""The bot's Geocoder key, in its ``yandexmaps`` credentials (``apikey`` accepted)."""


def collection(data: Any) -> dict[str, Any] | None:
    """``response.GeoObjectCollection`` of a Geocoder answer, or ``None`` if it has none."""
    response = data.get("response") if isinstance(data, dict) else None
    found = response.get("GeoObjectCollection") if isinstance(response, dict) else None
    return found if isinstance(found, dict) else None


class YandexGeocoder(Provider):
    """The Geocoder's answers: ``{"statusCode", "error", "message"}`` with a real status."""

    name = "Yandex Geocoder"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not response.is_success or collection(data) is None

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """The body's ``message``; its ``error`` (the reason phrase) only as the code."""
        if not isinstance(data, dict) or "statusCode" not in data:
            return super().detail(response, data)
        message, error = data.get("message"), data.get("error")
        return ErrorDetail(
            code=error if isinstance(error, str) and error else None,
            message=message if isinstance(message, str) and message else None,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        if status == 400 and detail.message is not None:  # the Geocoder's own 400: our values
            return InvalidConfigError(
                call.message(f"HTTP 400: {detail.message}; check address/lat/lon/kind/lang")
            )
        if status == 403:
            said = detail.message or "Forbidden"
            hint = f"{said} (a new key activates within 15 minutes of its creation)"
            return status_error(call, 403, replace(detail, message=hint))
        if status == 429:
            said = detail.message or "Too Many Requests"
            hint = f"{said}; over 50 requests/s, or the free tier's 1,000 requests a day"
            return status_error(call, 429, replace(detail, message=hint), headers=response.headers)
        return None
