"""``yandexweather_forecast``: the weather now and a daily forecast at a point (API v3, GraphQL)."""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.http import KeyedHttpIntegration
from integrations.outcome import ok
from integrations.yandexweather.client import (
    API_KEY,
    DEFAULT_BASE_URL,
    YANDEXWEATHER,
    YandexWeather,
)

#: The API serves up to 10 days ahead ("now, today, and daily for 10 days"); a plan may give
#: fewer, in which case the answer simply has fewer days.
MAX_DAYS = 10

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "lat": {
            "type": "number",
            "minimum": -90,
            "maximum": 90,
            "description": "Latitude of the point, in degrees (-90 to 90)",
        },
        "lon": {
            "type": "number",
            "minimum": -180,
            "maximum": 180,
            "description": "Longitude of the point, in degrees (-180 to 180)",
        },
        "days": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_DAYS,
            "default": 3,
            "description": f"Days of forecast, today included (1-{MAX_DAYS}, default 3)",
        },
    },
    "required": ["lat", "lon"],
    "additionalProperties": False,
}

# A constant: the config's values are GraphQL variables, typed by the server, never query text.
# Units are the API's defaults: °C, m/s, mm Hg, % (the docs' examples: pressure 771, humidity 93).
QUERY = """query Forecast($lat: Float!, $lon: Float!, $days: Int!) {
  weatherByPoint(request: {lat: $lat, lon: $lon}) {
    now { temperature feelsLike condition windSpeed windDirection humidity pressure }
    forecast {
      days(limit: $days) {
        time
        summary {
          day { condition minTemperature maxTemperature }
          night { condition minTemperature maxTemperature }
        }
      }
    }
  }
}"""

UNITS = {"temperature": "°C", "wind_speed": "m/s", "pressure": "mmHg", "humidity": "%"}

METADATA = YANDEXWEATHER.action(
    "forecast",
    name="Yandex Weather Forecast",
    description="Get the weather now (temperature, feels-like, condition, wind, humidity, "
    "pressure) and a daily forecast (min/max temperature, condition) at a point from the "
    "Yandex Weather API.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a read: safe to repeat
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=15.0,  # above the 10 s HTTP timeout, so a slow answer ends as our TransientError
    max_attempts=3,
    # The paid plan: 100,000 requests per month (Yandex Cloud Marketplace listing). The Test
    # plan's daily cap is not published; its 403 is mapped to a wait until the next day.
    rate_limits=(
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=100_000, period_s=30 * 86_400.0),
    ),
)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _day(raw: dict[str, Any]) -> dict[str, Any]:
    summary = _dict(raw.get("summary"))
    parts = [_dict(summary.get("day")), _dict(summary.get("night"))]
    lows = [n for n in (_number(p.get("minTemperature")) for p in parts) if n is not None]
    highs = [n for n in (_number(p.get("maxTemperature")) for p in parts) if n is not None]
    when = raw.get("time")
    return {
        "date": when[:10] if isinstance(when, str) else None,  # "2026-12-03T00:00:00+03:00"
        "temp_min": min(lows) if lows else None,
        "temp_max": max(highs) if highs else None,
        "condition": parts[0].get("condition") or parts[1].get("condition"),
    }


def _result(body: dict[str, Any], lat: float, lon: float) -> dict[str, Any]:
    point = _dict(_dict(body.get("data")).get("weatherByPoint"))
    now = _dict(point.get("now"))
    days = _dict(point.get("forecast")).get("days")
    return {
        "lat": lat,
        "lon": lon,
        "now": {
            "temperature": _number(now.get("temperature")),
            "feels_like": _number(now.get("feelsLike")),
            "condition": now.get("condition"),  # the API's constant, e.g. "LIGHT_SNOW"
            "wind_speed": _number(now.get("windSpeed")),
            "wind_direction": now.get("windDirection"),  # e.g. "NORTH_EAST", "CALM"
            "humidity": _number(now.get("humidity")),
            "pressure": _number(now.get("pressure")),
        },
        "days": [_day(d) for d in days if isinstance(d, dict)] if isinstance(days, list) else [],
        "units": UNITS,
    }


class YandexWeatherForecastIntegration(KeyedHttpIntegration):
    """The weather now and a daily forecast from the Yandex Weather API (v3, GraphQL).

    Config: ``lat``, ``lon`` and ``days`` (1-10, default 3). Credentials: ``{"api_key": "..."}``
    (``key`` accepted), sent in ``X-Yandex-Weather-Key``. Returns ``{"lat", "lon", "now":
    {"temperature", "feels_like", "condition", "wind_speed", "wind_direction", "humidity",
    "pressure"}, "days": [{"date", "temp_min", "temp_max", "condition"}], "units"}``, units
    °C, m/s, mm Hg and %; conditions are the API's constants (``CLEAR``, ``OVERCAST``, ...),
    the same in every language (the v3 API documents no ``lang``).
    """

    service: ClassVar[str] = YANDEXWEATHER.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = YandexWeather()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 10.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        lat, lon = config["lat"], config["lon"]
        variables = {"lat": lat, "lon": lon, "days": config.get("days", 3)}
        reply = await self.call(
            "POST", "/graphql/query", json={"query": QUERY, "variables": variables},
            headers={"X-Yandex-Weather-Key": key}, secrets=[key], what="forecast",
            logger=logger,
        )  # fmt: skip
        result = _result(reply.body, lat, lon)
        logger.info("yandexweather forecast fetched", days=len(result["days"]))
        return ok(result)
