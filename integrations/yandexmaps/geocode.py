"""``yandexmaps_geocode``: an address to coordinates, or coordinates to an address."""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.http import KeyedHttpIntegration
from integrations.outcome import ok
from integrations.yandexmaps.client import (
    API_KEY,
    DEFAULT_BASE_URL,
    YANDEXMAPS,
    YandexGeocoder,
    collection,
)

#: The ``lang`` values the Geocoder documents (language_REGION).
LANGS = ["ru_RU", "uk_UA", "be_BY", "en_RU", "en_US", "tr_TR"]
#: The toponym kinds a reverse lookup may ask for.
KINDS = ["house", "street", "metro", "district", "locality"]

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "address": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "Forward geocoding: the address or place to find, e.g. "
            "'Moscow, Novy Arbat Street, 24'",
        },
        "lat": {
            "type": "number",
            "minimum": -90,
            "maximum": 90,
            "description": "Reverse geocoding: latitude of the point, in degrees",
        },
        "lon": {
            "type": "number",
            "minimum": -180,
            "maximum": 180,
            "description": "Reverse geocoding: longitude of the point, in degrees",
        },
        "kind": {
            "enum": KINDS,
            "description": "Reverse geocoding only: the kind of toponym to return "
            "(house, street, metro, district, locality)",
        },
        "lang": {
            "enum": LANGS,
            "default": "ru_RU",
            "description": "Language and regional map features of the answer (default ru_RU)",
        },
        "results": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "default": 5,
            "description": "The most results to return (1-50, default 5)",
        },
    },
    # Exactly one way to ask: an address, or a point (lat and lon together).
    "oneOf": [{"required": ["address"]}, {"required": ["lat", "lon"]}],
    "dependentRequired": {"lat": ["lon"], "lon": ["lat"], "kind": ["lat", "lon"]},
    "additionalProperties": False,
}

METADATA = YANDEXMAPS.action(
    "geocode",
    name="Yandex Maps Geocode",
    description="Turn an address into coordinates, or coordinates into an address "
    "(Yandex Maps Geocoder HTTP API).",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a lookup: safe to repeat
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=15.0,  # above the 10 s HTTP timeout, so a slow answer ends as our TransientError
    max_attempts=3,
    # The docs: up to 50 requests/s (client and server together); the free version allows
    # 1,000 Geocoder HTTP API requests a day (commercial plans set their own).
    rate_limits=(
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=50, period_s=1.0),
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=1000, period_s=86_400.0),
    ),
)


def _degrees(value: float) -> str:
    """A coordinate as plain decimal text (never ``1e-07``), to 7 places (about 1 cm)."""
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _params(config: dict[str, Any], key: str) -> dict[str, str | int]:
    if "address" in config:
        geocode = config["address"]
    else:  # the Geocoder reads a point as "longitude,latitude"
        geocode = f"{_degrees(config['lon'])},{_degrees(config['lat'])}"
    params: dict[str, str | int] = {
        "geocode": geocode,
        "lang": config.get("lang", "ru_RU"),
        "format": "json",
        "results": config.get("results", 5),
    }
    if "kind" in config:
        params["kind"] = config["kind"]
    params["apikey"] = key
    return params


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _point(pos: object) -> tuple[float | None, float | None]:
    """``(lat, lon)`` from ``Point.pos``, which is ``"<lon> <lat>"``."""
    parts = pos.split() if isinstance(pos, str) else []
    try:
        lon, lat = (float(part) for part in parts)
    except ValueError:
        return None, None
    return lat, lon


def _result(member: dict[str, Any]) -> dict[str, Any]:
    place = _dict(member.get("GeoObject"))
    meta = _dict(_dict(place.get("metaDataProperty")).get("GeocoderMetaData"))
    address = _dict(meta.get("Address"))
    lat, lon = _point(_dict(place.get("Point")).get("pos"))
    raw = address.get("Components")
    components = [
        {"kind": c.get("kind"), "name": c.get("name")}
        for c in (raw if isinstance(raw, list) else [])
        if isinstance(c, dict)
    ]
    return {
        "lat": lat,
        "lon": lon,
        "formatted_address": address.get("formatted") or meta.get("text"),
        "name": place.get("name"),
        "description": place.get("description"),
        "kind": meta.get("kind"),
        "precision": meta.get("precision"),
        "country_code": address.get("country_code"),
        "postal_code": address.get("postal_code"),
        "components": components,
    }


def _found(found: dict[str, Any], listed: int) -> int:
    meta = _dict(_dict(found.get("metaDataProperty")).get("GeocoderResponseMetaData"))
    try:
        return int(meta.get("found"))  # type: ignore[arg-type]  # a string: "1"
    except (TypeError, ValueError):
        return listed


class YandexMapsGeocodeIntegration(KeyedHttpIntegration):
    """Geocode with the Yandex Maps Geocoder HTTP API (``GET /v1/``, the key as ``apikey``).

    Config: ``address`` (forward), or ``lat`` + ``lon`` with an optional ``kind`` (reverse;
    sent as ``geocode=<lon>,<lat>``), plus ``lang`` (default ``ru_RU``) and ``results`` (1-50,
    default 5). Credentials: ``{"api_key": "..."}`` (``apikey`` accepted). Nothing found is a
    success with no results. Returns ``{"count", "results": [{"lat", "lon",
    "formatted_address", "name", "description", "kind", "precision", "country_code",
    "postal_code", "components": [{"kind", "name"}]}]}``, ``count`` being what the Geocoder
    found in all.
    """

    service: ClassVar[str] = YANDEXMAPS.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = YandexGeocoder()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 10.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        reply = await self.call(
            "GET", "/v1/", params=_params(config, key), secrets=[key], what="geocode",
            logger=logger,
        )  # fmt: skip
        found = collection(reply.body) or {}
        members = found.get("featureMember")
        listed = [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []
        results = [_result(m) for m in listed[: config.get("results", 5)]]
        count = _found(found, len(listed))
        logger.info("yandexmaps geocode done", found=count, returned=len(results))
        return ok({"count": count, "results": results})
