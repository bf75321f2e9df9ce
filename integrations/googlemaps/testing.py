"""A fake Google Geocoding API: real HTTP on loopback, for tests and demos.

    async with FakeGoogleMaps() as fake:          # 127.0.0.1:<free port>
        clients = HttpClients({"googlemaps": EndpointSettings(base_url=fake.url)})
        fake.add_place("Red Square, Moscow", 55.7539, 37.6208)
        fake.inject("over_query_limit")           # the next call gets OVER_QUERY_LIMIT
        fake.calls[-1].params                     # what the client sent (key included)

It answers like the real service (external-apis.md §8.5): ``GET /maps/api/geocode/json`` with
``address`` / ``components`` / ``latlng`` and ``key``, and **errors inside HTTP 200** through the
body's ``status`` (``OK``, ``ZERO_RESULTS``, ``OVER_QUERY_LIMIT``, ``REQUEST_DENIED``,
``OVER_DAILY_LIMIT``, ``INVALID_REQUEST``, ``UNKNOWN_ERROR``) plus an ``error_message``.
Keys: any non-empty key is accepted unless ``api_keys`` lists the valid ones. ``fail_next(status)``
answers that HTTP status with the body ``status`` it means (429: ``OVER_QUERY_LIMIT``, 401/403:
``REQUEST_DENIED``, 5xx: ``UNKNOWN_ERROR``, other: ``INVALID_REQUEST``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeGoogleMaps", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "over_query_limit",
    "request_denied",
    "over_daily_limit",
    "invalid_request",
    "unknown_error",
]
_MESSAGES = {
    "over_query_limit": "You have exceeded your rate-limit for this API.",
    "request_denied": "The provided API key is invalid.",
    "over_daily_limit": "You have exceeded your daily request quota for this API. "
    "If you did not set a custom daily request quota, verify your project has an active "
    "billing account: http://g.co/dev/maps-no-account",
    "invalid_request": "Invalid request. Invalid 'address' parameter.",
    "unknown_error": "",
}

_STATUS_OF = {401: "REQUEST_DENIED", 403: "REQUEST_DENIED", 429: "OVER_QUERY_LIMIT"}


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)  # the JSON answered


@dataclass(slots=True, kw_only=True)
class _Injection(BaseInjection[FaultKind]):
    error_message: str | None


class FakeGoogleMaps(FakeServer[RecordedCall, _Injection]):
    """A fake Geocoding API on ``host:port`` (0: a free port), started by ``async with``."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_keys: Iterable[str] | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = None if api_keys is None else set(api_keys)
        self.places: dict[str, dict[str, Any]] = {}
        self.add_place("1600 Amphitheatre Parkway, Mountain View, CA", 37.4224764, -122.0842499)
        self.add_place("Red Square, Moscow", 55.7539303, 37.620795, types=["establishment"])

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/maps/api/geocode/json", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def add_place(
        self,
        address: str,
        lat: float,
        lng: float,
        *,
        formatted_address: str | None = None,
        types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Make ``address`` (case-insensitive) geocode to ``lat,lng``; returns the result."""
        digest = hashlib.sha1(address.encode(), usedforsecurity=False).hexdigest()[:20]
        result = {
            "address_components": [],
            "formatted_address": formatted_address or address,
            "geometry": {
                "location": {"lat": lat, "lng": lng},
                "location_type": "ROOFTOP",
                "viewport": {
                    "northeast": {"lat": lat + 0.001, "lng": lng + 0.001},
                    "southwest": {"lat": lat - 0.001, "lng": lng - 0.001},
                },
            },
            "place_id": f"ChIJ{digest}",
            "types": types or ["street_address"],
        }
        self.places[address.strip().lower()] = result
        return result

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        error_message: str | None = None,
    ) -> None:
        """Make the next ``times`` requests (None: all) answer ``kind``'s status inside a 200.

        HTTP statuses, stalls and dropped connections: ``fail_next``, ``stall_next``,
        ``drop_next``.
        """
        self.queue(_Injection(kind=kind, remaining=times, error_message=error_message))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: Google's body, with the ``status`` that HTTP status means."""
        headers = self.retry_after(retry_after_s)
        body = _status(
            _STATUS_OF.get(status, "UNKNOWN_ERROR" if status >= 500 else "INVALID_REQUEST"), message
        )
        return web.json_response(body, status=status, headers=headers)

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = RecordedCall(
            method=request.method,
            path=request.path,
            params=dict(request.query),
            headers=dict(request.headers),
        )
        self.calls.append(call)
        injection = self.take_injection()
        if injection is not None:
            body = _status(
                injection.kind.upper(), injection.error_message or _MESSAGES[injection.kind]
            )
        else:
            body = self._geocode(call.params)
        call.status, call.body = 200, body
        return web.json_response(body)  # always 200: the status is in the body

    def _geocode(self, params: dict[str, str]) -> dict[str, Any]:
        key = params.get("key")
        if not key:
            return _status(
                "REQUEST_DENIED",
                "You must use an API key to authenticate each request to Google Maps Platform "
                "APIs.",
            )
        if self.api_keys is not None and key not in self.api_keys:
            return _status("REQUEST_DENIED", _MESSAGES["request_denied"])
        if "latlng" in params:
            return self._reverse(params["latlng"])
        address = params.get("address", "").strip().lower()
        if not address and not params.get("components"):
            return _status(
                "INVALID_REQUEST",
                "Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id' "
                "parameter.",
            )
        result = self.places.get(address)
        if result is None:
            return {"results": [], "status": "ZERO_RESULTS"}
        return {"results": [result], "status": "OK"}

    def _reverse(self, latlng: str) -> dict[str, Any]:
        try:
            lat, lng = (float(part) for part in latlng.split(","))
        except ValueError:
            return _status("INVALID_REQUEST", "Invalid request. Invalid 'latlng' parameter.")
        near = [
            place
            for place in self.places.values()
            if abs(place["geometry"]["location"]["lat"] - lat) < 0.01
            and abs(place["geometry"]["location"]["lng"] - lng) < 0.01
        ]
        return {"results": near, "status": "OK" if near else "ZERO_RESULTS"}


def _status(status: str, error_message: str) -> dict[str, Any]:
    body: dict[str, Any] = {"results": [], "status": status}
    if error_message:
        body["error_message"] = error_message
    return body


CONTRACT_KEY = "AIzaSyCONTRACT-googlemaps-key-0123456789"
CONTRACT = ContractSubject(
    service="googlemaps",
    fake=lambda: FakeGoogleMaps(api_keys=[CONTRACT_KEY]),
    credentials={"api_key": CONTRACT_KEY},
    configs={"googlemaps_geocode": {"address": "Red Square, Moscow"}},
    invalid_configs={
        "googlemaps_geocode": [
            ({}, "$"),
            ({"address": ""}, "address"),
            ({"address": "x" * 1025}, "address"),
            ({"address": "x", "latlng": {"lat": 1, "lng": 2}}, "$"),
            ({"latlng": {"lat": 91, "lng": 2}}, "lat"),
            ({"latlng": {"lat": 1}}, "lng"),
            ({"address": "x", "components": {"country": "Russia"}}, "country"),
            ({"address": "x", "components": {"route": "a|b"}}, "route"),
            ({"address": "x", "components": {"planet": "Earth"}}, "planet"),
            ({"address": "x", "language": "Russian"}, "language"),
            ({"address": "x", "max_results": 11}, "max_results"),
            ({"address": "x", "key": "sneaky"}, "key"),
        ],
    },
)
