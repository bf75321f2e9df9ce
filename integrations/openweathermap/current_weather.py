"""``openweathermap_current_weather``: the weather now at a city, coordinates, city id or zip."""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.http import KeyedHttpIntegration
from integrations.openweathermap.client import (
    API_KEY,
    DEFAULT_BASE_URL,
    OPENWEATHERMAP,
    OpenWeatherMap,
)
from integrations.outcome import ok

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "City name, optionally with state and country codes: London,GB",
        },
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "city_id": {"type": "integer", "minimum": 1, "description": "OWM city id"},
        "zip": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9 -]{2,12},[A-Za-z]{2}$",
            "description": "Zip/post code and country code: 94040,us",
        },
        "units": {"enum": ["standard", "metric", "imperial"], "default": "metric"},
        "lang": {"type": "string", "pattern": "^[a-z]{2}(_[a-z]{2})?$", "description": "e.g. ru"},
    },
    # Exactly one way to name the place.
    "oneOf": [
        {"required": ["city"]},
        {"required": ["lat", "lon"]},
        {"required": ["city_id"]},
        {"required": ["zip"]},
    ],
    "dependentRequired": {"lat": ["lon"], "lon": ["lat"]},
    "additionalProperties": False,
}

METADATA = OPENWEATHERMAP.action(
    "current_weather",
    name="OpenWeatherMap Current Weather",
    description="Get the current weather (temperature, conditions, wind, humidity) for a city, "
    "coordinates, city id or zip code from OpenWeatherMap.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a GET: safe to repeat
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=15.0,
    max_attempts=3,
    # The free plan's documented 60 calls/min per key (every call counts, failed ones too).
    # Paid plans allow more; this keeps free keys from being blocked.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=60, period_s=60.0),),
)


def _params(config: dict[str, Any], key: str) -> dict[str, str | int | float]:
    params: dict[str, str | int | float] = {"units": config.get("units", "metric")}
    if "city" in config:
        params["q"] = config["city"]
    elif "city_id" in config:
        params["id"] = config["city_id"]
    elif "zip" in config:
        params["zip"] = config["zip"]
    else:
        params["lat"], params["lon"] = config["lat"], config["lon"]
    if "lang" in config:
        params["lang"] = config["lang"]
    params["appid"] = key
    return params


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _result(body: dict[str, Any], units: str) -> dict[str, Any]:
    weather = body.get("weather")
    now = _dict(weather[0]) if isinstance(weather, list) and weather else {}
    main, wind, sys = _dict(body.get("main")), _dict(body.get("wind")), _dict(body.get("sys"))
    coord = _dict(body.get("coord"))
    return {
        "city": body.get("name"),
        "country": sys.get("country"),
        "city_id": body.get("id"),
        "coord": {"lat": coord.get("lat"), "lon": coord.get("lon")},
        "condition": now.get("main"),
        "description": now.get("description"),
        "icon": now.get("icon"),
        "temperature": main.get("temp"),
        "feels_like": main.get("feels_like"),
        "temp_min": main.get("temp_min"),
        "temp_max": main.get("temp_max"),
        "pressure_hpa": main.get("pressure"),
        "humidity_pct": main.get("humidity"),
        "wind_speed": wind.get("speed"),
        "wind_deg": wind.get("deg"),
        "clouds_pct": _dict(body.get("clouds")).get("all"),
        "visibility_m": body.get("visibility"),
        "observed_at": body.get("dt"),
        "sunrise": sys.get("sunrise"),
        "sunset": sys.get("sunset"),
        "timezone_offset_s": body.get("timezone"),
        # metric: °C and m/s; imperial: °F and mph; standard: K and m/s.
        "units": units,
    }


class OpenWeatherMapCurrentWeatherIntegration(KeyedHttpIntegration):
    """Current weather from OpenWeatherMap (``GET /data/2.5/weather``, key as ``appid``).

    Config: exactly one of ``city`` ("London,GB"), ``lat`` + ``lon``, ``city_id`` or ``zip``
    ("94040,us"); ``units`` (``metric`` by default: °C, m/s) and ``lang`` (descriptions, e.g.
    ``ru``). Credentials: ``{"api_key": "..."}``. Returns the place, condition, description,
    icon, temperature/feels_like/min/max, pressure, humidity, wind, clouds, visibility, times
    (unix) and ``units``. An unknown place is a ``PermanentError`` with code 404.
    """

    service: ClassVar[str] = OPENWEATHERMAP.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = OpenWeatherMap()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 10.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        params = _params(config, key)
        reply = await self.call(
            "GET", "data/2.5/weather", params=params, secrets=[key], what="current weather",
            logger=logger,
        )  # fmt: skip
        result = _result(reply.body, str(params["units"]))
        logger.info("openweathermap weather fetched", city=result["city"], units=result["units"])
        return ok(result)
