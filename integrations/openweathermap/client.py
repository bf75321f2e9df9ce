"""Shared pieces of the OpenWeatherMap actions: credentials and how OWM answers errors.

OWM sends real HTTP status codes *and* repeats them in the body's ``cod`` field, which is a number
for some errors and a **string** for others (``{"cod": 401, ...}`` but ``{"cod": "404",
"message": "city not found"}``); ``cod`` is read as ``int(cod)``, and a 200 whose ``cod`` is an
error is that error. The key travels as the ``appid`` query parameter: it is handed to the seam
as a secret, and no URL of a request ever goes into a message.

The seam's table (:mod:`integrations.provider`) maps the status (404 "city not found" is a
permanent error: the place, not the request, is wrong; 429 comes without Retry-After, so the
processor backs off), but for:

=============  =========================================================================
status / cod   our error
=============  =========================================================================
401            AuthError, saying a new key takes up to ~2 h to activate
400            InvalidConfigError ("Nothing to geocode", "wrong latitude", ...)
=============  =========================================================================
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

__all__ = [
    "API_KEY",
    "DEFAULT_BASE_URL",
    "OPENWEATHERMAP",
    "OpenWeatherMap",
]

OPENWEATHERMAP = Service("openweathermap", Category.WEATHER, "#EB6E4B")

DEFAULT_BASE_URL = "https://api.openweathermap.org"


API_KEY = SecretField(
    provider=OPENWEATHERMAP.name, fields=("api_key", "appid"), strip=True,
    example='{"api_key": "<key from https://home.openweathermap.org/api_keys>"}',
)  # fmt: skip
"""The bot's OWM key, in its ``openweathermap`` credentials (``appid``, as OWM calls it, too)."""


def _cod(data: Any) -> int | None:
    """The body's ``cod`` as a number (OWM sends ``200``, ``401`` or ``"404"``), or ``None``."""
    cod = data.get("cod") if isinstance(data, dict) else None
    if isinstance(cod, bool):
        return None
    try:
        return int(cod)  # type: ignore[arg-type]  # int, "404", or missing
    except (TypeError, ValueError):
        return None


class OpenWeatherMap(Provider):
    """OWM's answers: ``{"cod", "message"}``, the ``cod`` an error even inside a 200."""

    name = "OpenWeatherMap"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        weather = isinstance(data, dict) and "main" in data
        return not response.is_success or _cod(data) not in (None, 200) or not weather

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """OWM's ``message``; the ``cod`` as the code only where it is not the HTTP status."""
        message = data.get("message") if isinstance(data, dict) else None
        cod = _cod(data)
        return ErrorDetail(
            code=str(cod) if cod not in (None, response.status_code) else None,
            message=message if isinstance(message, str) and message else None,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        if response.is_success and detail.code is not None:  # an error cod inside a 200
            status, detail = int(detail.code), replace(detail, code=None)
        if status == 401:
            hint = (
                f"{detail.message or 'Unauthorized'} (a new key can take up to 2 hours to activate)"
            )
            return status_error(call, 401, replace(detail, message=hint))
        if status == 400 and detail.message is not None:  # OWM's own 400: the config's values
            return InvalidConfigError(call.message(f"HTTP 400: {detail.message}"))
        if status != response.status_code:
            return status_error(call, status, detail, headers=response.headers)
        return None
