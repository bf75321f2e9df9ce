"""Shared pieces of the OpenWeatherMap actions: credentials and the mapping of OWM's errors.

OWM sends real HTTP status codes *and* repeats them in the body's ``cod`` field, which is a number
for some errors and a **string** for others (``{"cod": 401, ...}`` but ``{"cod": "404",
"message": "city not found"}``); ``cod`` is compared as ``int(cod)``. The key travels as the
``appid`` query parameter, so no URL of a request ever goes into a message.

=============  =========================================================================
status / cod   our error
=============  =========================================================================
401            AuthError (wrong key; a new key takes up to ~2 h to activate)
404            PermanentError 404 ("city not found": the place, not the request, is wrong)
400            InvalidConfigError ("Nothing to geocode", "wrong latitude", ...)
429            RateLimitedError (no Retry-After: the processor backs off)
5xx            TransientError
=============  =========================================================================
"""

from __future__ import annotations

import math
from typing import Any
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

__all__ = [
    "DEFAULT_BASE_URL",
    "SERVICE",
    "api_key",
    "json_body",
    "map_error_response",
    "map_transport_error",
    "status_of",
]

SERVICE = "openweathermap"
DEFAULT_BASE_URL = "https://api.openweathermap.org"


async def api_key(
    resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
) -> str | None:
    """The bot's OWM key (``api_key``, or ``appid`` as OWM calls it), or ``None`` without one."""
    return await secret_field(
        resolver, bot_id, logger, provider=SERVICE, fields=("api_key", "appid"), strip=True,
        example='{"api_key": "<key from https://home.openweathermap.org/api_keys>"}',
    )  # fmt: skip


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object answered, or ``{}``."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _cod(body: dict[str, Any]) -> int | None:
    cod = body.get("cod")
    if isinstance(cod, bool):
        return None
    try:
        return int(cod)  # type: ignore[arg-type]  # int, "404", or missing
    except (TypeError, ValueError):
        return None


def status_of(response: httpx.Response, body: dict[str, Any]) -> int:
    """The effective status: the HTTP one, unless a 200 carries an error ``cod``."""
    cod = _cod(body)
    if response.status_code == 200 and cod is not None and cod != 200:
        return cod
    return response.status_code


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        value = float(headers.get("retry-after", "nan"))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def map_error_response(
    response: httpx.Response, body: dict[str, Any], *, key: str
) -> IntegrationError:
    """Our typed error for an OWM error answer."""
    status = status_of(response, body)
    text = body.get("message") if isinstance(body.get("message"), str) else None
    detail = redact_text(text or response.reason_phrase or "no message", SecretSet([key]))
    message = f"OpenWeatherMap HTTP {status}: {detail}"
    if status == 401:
        return AuthError(f"{message} (a new key can take up to 2 hours to activate)", code=401)
    if status == 429:
        return RateLimitedError(message, retry_after_s=_retry_after(response.headers))
    if status == 400:
        return InvalidConfigError(message, code=400)
    if status >= 500 or status in (408, 425):
        return TransientError(message, code=status)
    if status < 400:  # a 2xx without weather (a proxy's page?): not OWM's answer
        return TransientError(f"{message} (not an OpenWeatherMap answer)", code=502)
    return PermanentError(message, code=status)


def map_transport_error(exc: httpx.HTTPError) -> IntegrationError:
    """Our typed error for an httpx failure; not ``str(exc)``, which may hold the URL (and
    with it the ``appid``). Reads are safe to retry, so all are transient."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"OpenWeatherMap: timed out ({name})", code=504)
    return TransientError(f"OpenWeatherMap: connection failed ({name})", code=503)
