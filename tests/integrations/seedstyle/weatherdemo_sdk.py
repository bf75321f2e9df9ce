"""A stand-in for a weather provider's client library (no network)."""

from __future__ import annotations

from typing import Any


class InvalidApiKey(Exception):
    """The provider rejected the key."""


class WeatherClient:
    """Minimal async client with the shape real SDKs have: a token, then calls."""

    calls: list[dict[str, Any]] = []  # noqa: RUF012  # shared on purpose: tests inspect it

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_forecast(self, city: str, days: int = 1) -> dict[str, Any]:
        if self._token == "revoked":
            raise InvalidApiKey("401 Unauthorized")
        WeatherClient.calls.append({"city": city, "days": days, "token": self._token})
        return {
            "city": city,
            "days": [{"day": n, "temp_c": 20 + n, "summary": "sunny"} for n in range(days)],
        }
