"""``googlemaps_geocode``: an address to coordinates (or coordinates to an address)."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.googlemaps.client import GOOGLEMAPS, GoogleMapsIntegration
from integrations.outcome import ok

_COMPONENT = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[^|:]+$"}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "address": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "description": "Street address or place to geocode",
        },
        "components": {
            "type": "object",
            "description": "Component filter (e.g. {'country': 'RU'}); with or instead of address",
            "properties": {
                "country": {"type": "string", "pattern": r"^[A-Za-z]{2}$"},
                "postal_code": _COMPONENT,
                "locality": _COMPONENT,
                "administrative_area": _COMPONENT,
                "route": _COMPONENT,
            },
            "minProperties": 1,
            "additionalProperties": False,
        },
        "latlng": {
            "type": "object",
            "description": "Reverse geocoding: the point to describe",
            "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lng": {"type": "number", "minimum": -180, "maximum": 180},
            },
            "required": ["lat", "lng"],
            "additionalProperties": False,
        },
        "language": {"type": "string", "pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"},
        "region": {"type": "string", "pattern": r"^[a-z]{2}$", "description": "ccTLD bias"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5},
    },
    "oneOf": [
        {"anyOf": [{"required": ["address"]}, {"required": ["components"]}]},
        {"required": ["latlng"]},
    ],
    "additionalProperties": False,
}

METADATA = GOOGLEMAPS.action(
    "geocode",
    name="Google Maps Geocode",
    description="Turn an address into coordinates, or coordinates into an address "
    "(Google Geocoding API).",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a lookup: safe to repeat
    timeout_s=15.0,  # above the 10 s HTTP timeout, so a slow Google ends as our TransientError
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # Google Maps Platform: 3,000 queries per minute per project (client + server side).
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=3000, period_s=60.0),),
)


class GoogleMapsGeocodeIntegration(GoogleMapsIntegration):
    """Geocode with the Google Geocoding API (``GET /maps/api/geocode/json``).

    Config: ``address`` and/or ``components`` (forward), or ``latlng`` (reverse), plus
    ``language``, ``region`` and ``max_results`` (1-10, default 5). Credentials:
    ``{"api_key": "..."}``. ``ZERO_RESULTS`` is a success with no results. Returns
    ``{"status", "count", "results": [{"formatted_address", "lat", "lng", "location_type",
    "place_id", "types", "partial_match"}]}``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        reply = await self.call(
            "GET", "/maps/api/geocode/json", params={**_params(config), "key": key},
            secrets=[key], what="geocode", logger=logger,
        )  # fmt: skip
        body = reply.body
        raw = body.get("results")
        found = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
        results = [_result(r) for r in found[: config.get("max_results", 5)]]
        logger.info("googlemaps geocode done", status=body["status"], found=len(found))
        return ok({"status": body["status"], "count": len(found), "results": results})


def _params(config: dict[str, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    if "latlng" in config:
        point = config["latlng"]
        params["latlng"] = f"{point['lat']},{point['lng']}"
    if "address" in config:
        params["address"] = config["address"]
    if components := config.get("components"):
        params["components"] = "|".join(f"{k}:{v}" for k, v in sorted(components.items()))
    for name in ("language", "region"):
        if name in config:
            params[name] = config[name]
    return params


def _result(raw: dict[str, Any]) -> dict[str, Any]:
    geometry = raw.get("geometry") or {}
    location = geometry.get("location") or {}
    result = {
        "formatted_address": raw.get("formatted_address"),
        "lat": location.get("lat"),
        "lng": location.get("lng"),
        "location_type": geometry.get("location_type"),
        "place_id": raw.get("place_id"),
        "types": raw.get("types") or [],
    }
    if raw.get("partial_match"):
        result["partial_match"] = True
    return result
