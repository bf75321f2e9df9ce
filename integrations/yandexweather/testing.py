"""A fake Yandex Weather API v3: real HTTP (GraphQL over POST) on loopback, for tests and demos.

    async with FakeYandexWeather(api_keys={"k"}) as fake:   # 127.0.0.1:<free port>
        clients = HttpClients({"yandexweather": EndpointSettings(base_url=fake.url)})
        fake.inject("daily_limit")          # the next call: 403, the plan's daily cap
        fake.calls[0].variables             # {"lat": ..., "lon": ..., "days": ...}

It answers as the API does (yandex.com/dev/weather/doc): ``POST /graphql/query`` with
``{"query", "variables"}`` and the key in ``X-Yandex-Weather-Key``; a success is ``{"data":
{"weatherByPoint": {"now": {...}, "forecast": {"days": [...]}}}}`` with the API's constants
(``condition``: ``CLEAR``, ``OVERCAST``, ...; ``windDirection``: ``NORTH_EAST``, ``CALM``) and
units (°C, m/s, mm Hg); a refused query is **HTTP 200** with ``{"errors": [...], "data":
null}``. A refused key is HTTP 403 with a one-line plain-text reason: the docs list the
reasons (no key, an expired plan, the daily cap) but show no body, so that wording is ours
(see :mod:`integrations.yandexweather.client`). ``fail_next(status)`` answers that status with
such a line. The weather is the nearest known place's (within 2°), or a mild default.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakePlace", "FakeYandexWeather", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "wrong_key",  # 403: the key is not valid
    "expired_plan",  # 403: the Test plan's 30 days are over
    "daily_limit",  # 403: the plan's daily request cap
    "graphql_error",  # 200 with {"errors": [...]} (a validation error)
    "internal_error",  # 200 with {"errors": [...]} whose extensions.code is INTERNAL_SERVER_ERROR
]
_FORBIDDEN = {
    "wrong_key": "Forbidden: invalid API key",
    "expired_plan": "Forbidden: the plan has expired",
    "daily_limit": "Forbidden: daily request limit exceeded",
}
_MAX_DAYS = 10


@dataclass(frozen=True, slots=True)
class FakePlace:
    """A point the fake knows, with its weather now (°C, m/s, mm Hg, %)."""

    name: str
    lat: float
    lon: float
    temperature: int
    condition: str
    wind_speed: float = 3.0
    wind_direction: str = "NORTH_EAST"
    humidity: int = 80
    pressure: int = 745
    utc_offset_h: int = 3


DEFAULT_PLACES = (
    FakePlace("Moscow", 55.7558, 37.6173, -5, "LIGHT_SNOW", 4.0, "NORTH_WEST", 86, 748),
    FakePlace("Saint Petersburg", 59.9386, 30.3141, -2, "OVERCAST", 6.5, "WEST", 90, 752),
    FakePlace("Amsterdam", 52.37125, 4.89388, 4, "CLOUDY", 5.6, "NORTH_EAST", 84, 769, 1),
)
_DEFAULT = FakePlace("", 0.0, 0.0, 15, "CLEAR", 2.0, "CALM", 60, 760, 0)


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received (the key kept apart from the body)."""

    path: str
    key: str | None
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)  # the JSON answered


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next requests with a valid key get; returned by
    :meth:`FakeYandexWeather.inject`."""


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _forbidden(reason: str) -> web.Response:
    return web.Response(status=403, text=reason, content_type="text/plain")


def _errors(message: str, code: str, path: list[str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "extensions": {"code": code}}
    if path:
        error["path"] = path
    return {"errors": [error], "data": None}


class FakeYandexWeather(FakeServer[RecordedCall, Injection]):
    """A fake Weather API on ``host:port`` (0: a free port), started by ``async with``.

    ``api_keys``: the keys it accepts (empty: any non-empty key). ``places``: the points it
    knows, the nearest within 2° answering.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        places: Iterable[FakePlace] = DEFAULT_PLACES,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = set(api_keys)
        self.places = list(places)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/graphql/query", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def inject(self, kind: FaultKind, *, times: int | None = 1) -> Injection:
        """Make the next ``times`` requests (None: all) with a valid key fail with ``kind``.
        Other statuses, stalls and dropped connections: ``fail_next``, ``stall_next``,
        ``drop_next``."""
        return self.queue(Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: a one-line plain-text reason, as the API's gateway sends."""
        headers = self.retry_after(retry_after_s)
        return web.Response(status=status, text=message, content_type="text/plain", headers=headers)

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        variables, query = body.get("variables"), body.get("query")
        call = RecordedCall(
            path=request.path,
            key=request.headers.get("X-Yandex-Weather-Key"),
            query=query if isinstance(query, str) else "",
            variables=variables if isinstance(variables, dict) else {},
            headers=dict(request.headers),
        )
        self.calls.append(call)
        response = self._respond(call)
        call.status = response.status
        if isinstance(response, web.Response) and response.content_type == "application/json":
            call.body = json.loads(response.text or "{}")
        return response

    def _respond(self, call: RecordedCall) -> web.Response:
        if not call.key:
            return _forbidden("Forbidden: no X-Yandex-Weather-Key header")
        if self.api_keys and call.key not in self.api_keys:
            return _forbidden(_FORBIDDEN["wrong_key"])
        injection = self.take_injection()
        if injection is not None:
            if injection.kind in _FORBIDDEN:
                return _forbidden(_FORBIDDEN[injection.kind])
            if injection.kind == "internal_error":
                body = _errors("Internal server error", "INTERNAL_SERVER_ERROR", ["weatherByPoint"])
                return web.json_response(body)
            body = _errors("Validation error: field 'weatherByPoint' is undefined", "BAD_REQUEST")
            return web.json_response(body)
        if "weatherByPoint" not in call.query:
            return web.json_response(
                _errors("Invalid query: weatherByPoint expected", "BAD_REQUEST")
            )
        return web.json_response(self._weather(call.variables))

    def _weather(self, variables: dict[str, Any]) -> dict[str, Any]:
        lat, lon = _float(variables.get("lat")), _float(variables.get("lon"))
        if lat is None or lon is None:
            return _errors("Variable 'lat'/'lon' has an invalid value: a Float is required",
                           "BAD_REQUEST")  # fmt: skip
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return _errors("lat must be in [-90, 90] and lon in [-180, 180]", "BAD_REQUEST")
        days = variables.get("days", 1)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return _errors("Variable 'days' has an invalid value: an Int is required",
                           "BAD_REQUEST")  # fmt: skip
        place = self._nearest(lat, lon)
        now = {
            "temperature": place.temperature,
            "feelsLike": place.temperature - 4,
            "condition": place.condition,
            "windSpeed": place.wind_speed,
            "windDirection": place.wind_direction,
            "humidity": place.humidity,
            "pressure": place.pressure,
        }
        zone = dt.timezone(dt.timedelta(hours=place.utc_offset_h))
        today = dt.datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        forecast = []
        for n in range(min(days, _MAX_DAYS)):
            high = place.temperature + 2 + n % 3
            summary = {
                "day": {"condition": place.condition, "minTemperature": high - 4,
                        "maxTemperature": high},
                "night": {"condition": "CLEAR", "minTemperature": high - 7,
                          "maxTemperature": high - 3},
            }  # fmt: skip
            when = (today + dt.timedelta(days=n)).isoformat()
            forecast.append({"time": when, "summary": summary})
        return {"data": {"weatherByPoint": {"now": now, "forecast": {"days": forecast}}}}

    def _nearest(self, lat: float, lon: float) -> FakePlace:
        near = [p for p in self.places if abs(p.lat - lat) <= 2 and abs(p.lon - lon) <= 2]
        if not near:
            return _DEFAULT
        return min(near, key=lambda p: (p.lat - lat) ** 2 + (p.lon - lon) ** 2)


CONTRACT_KEY = "5b0c1f7e-contract-yandexweather-key-0001"
CONTRACT = ContractSubject(
    service="yandexweather",
    fake=lambda: FakeYandexWeather(api_keys={CONTRACT_KEY}),
    credentials={"api_key": CONTRACT_KEY},
    configs={"yandexweather_forecast": {"lat": 55.7558, "lon": 37.6173, "days": 2}},
    invalid_configs={
        "yandexweather_forecast": [
            ({}, "$"),
            ({"lat": 55.75}, "lon"),
            ({"lat": 91, "lon": 0}, "lat"),
            ({"lat": 0, "lon": -181}, "lon"),
            ({"lat": "55.75", "lon": 37.6}, "lat"),
            ({"lat": 0, "lon": 0, "days": 0}, "days"),
            ({"lat": 0, "lon": 0, "days": 11}, "days"),
            ({"lat": 0, "lon": 0, "days": 2.5}, "days"),
            ({"lat": 0, "lon": 0, "query": "{ __schema { types { name } } }"}, "query"),
            ({"lat": 0, "lon": 0, "api_key": "k"}, "api_key"),
        ],
    },
)
