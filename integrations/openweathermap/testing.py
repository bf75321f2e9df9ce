"""A fake OpenWeatherMap current-weather API: real HTTP on loopback, for tests and demos.

Point the integration at it with
``HttpClients({"openweathermap": EndpointSettings(base_url=fake.url)})``::

    async with FakeOpenWeatherMap(api_keys={"k"}) as fake:
        fake.inject("rate_limit")
        ...
        fake.calls[0].params     # q / lat / lon / id / zip / units / lang (appid kept apart)

It answers as OWM does (``external-apis.md`` §3): ``GET /data/2.5/weather?appid=...``, a body with
``"cod": 200`` (a number), and errors with real status codes whose ``cod`` is a number for 401 and
429 but a STRING for 404 and 400 (``{"cod": "404", "message": "city not found"}``);
``fail_next(status)`` answers in that shape too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeCity", "FakeOpenWeatherMap", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429, cod 429 (a number)
    "invalid_key",  # 401, cod 401
    "error_in_200",  # HTTP 200 whose body is {"cod": "404", "message": "city not found"}
]

INVALID_KEY = "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."
RATE_LIMITED = (
    "Your account is temporary blocked due to exceeding of requests limitation of your "
    "subscription type. Please choose the proper subscription https://openweathermap.org/price"
)
_RU = {
    "clear sky": "ясно",
    "overcast clouds": "пасмурно",
    "light snow": "небольшой снег",
    "broken clouds": "облачно с прояснениями",
}


@dataclass(frozen=True, slots=True)
class FakeCity:
    """A place the fake knows, with its weather in OWM's standard units (K, m/s)."""

    id: int
    name: str
    country: str
    lat: float
    lon: float
    temp_k: float
    condition: str
    description: str
    icon: str
    humidity: int = 70
    pressure: int = 1015
    wind_ms: float = 3.6
    zip: str | None = None
    timezone: int = 0


DEFAULT_CITIES = (
    FakeCity(2643743, "London", "GB", 51.5085, -0.1257, 285.15, "Clouds", "broken clouds", "04d"),
    FakeCity(
        524901,
        "Moscow",
        "RU",
        55.7522,
        37.6156,
        268.15,
        "Snow",
        "light snow",
        "13d",
        timezone=10800,
    ),
    FakeCity(
        587084, "Baku", "AZ", 40.3777, 49.892, 290.15, "Clear", "clear sky", "01d", timezone=14400
    ),
    FakeCity(
        5375480,
        "Mountain View",
        "US",
        37.3861,
        -122.0839,
        293.15,
        "Clouds",
        "overcast clouds",
        "04d",
        zip="94040,us",
        timezone=-28800,
    ),
)


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received (``appid`` is kept out of ``params``)."""

    path: str
    params: dict[str, str]
    appid: str | None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next requests get; returned by :meth:`FakeOpenWeatherMap.inject`."""


def _error(
    status: int, cod: int | str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"cod": cod, "message": message}, status=status, headers=headers)


def _degrees(value: str | None, bound: float) -> float | None:
    """``value`` as a number within ``±bound``, or ``None`` (missing, not a number, too far)."""
    try:
        degrees = float(value if value is not None else "nan")
    except ValueError:
        return None
    return degrees if -bound <= degrees <= bound else None


class FakeOpenWeatherMap(FakeServer[RecordedCall, Injection]):
    """A fake OWM on ``host:port`` (port 0: a free one), started by ``async with``.

    ``api_keys``: the keys it accepts (empty: any non-empty ``appid``). ``cities``: the places
    it knows (by name, ``name,CC``, id, zip, or the nearest within 1° of ``lat``/``lon``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        cities: Iterable[FakeCity] = DEFAULT_CITIES,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = set(api_keys)
        self.cities = list(cities)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/data/2.5/weather", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
    ) -> Injection:
        """Make the next ``times`` requests (None: all) with a key fail with ``kind``. Other
        statuses, stalls and dropped connections: ``fail_next``, ``stall_next``, ``drop_next``."""
        return self.queue(Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: OWM's ``{"cod", "message"}``, ``cod`` a number only for 401
        and 429, as OWM sends it."""
        cod = status if status in (401, 429) else str(status)
        return _error(status, cod, message, self.retry_after(retry_after_s))

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        appid = params.pop("appid", None)
        call = RecordedCall(
            path=request.path, params=params, appid=appid, headers=dict(request.headers)
        )
        self.calls.append(call)
        response = self._respond(call)
        call.status = response.status
        return response

    def _respond(self, call: RecordedCall) -> web.Response:
        if not call.appid or (self.api_keys and call.appid not in self.api_keys):
            return _error(401, 401, INVALID_KEY)
        injection = self.take_injection()
        if injection is None:
            return self._weather(call.params)
        kind = injection.kind
        if kind == "rate_limit":
            return _error(429, 429, RATE_LIMITED)
        if kind == "invalid_key":
            return _error(401, 401, INVALID_KEY)
        return _error(200, "404", "city not found")  # "error_in_200"

    def _find(self, params: dict[str, str]) -> FakeCity | web.Response:
        if "q" in params:
            name, _, country = params["q"].partition(",")
            country = country.rpartition(",")[2].strip().upper()  # "City,state,CC" too
            country = "GB" if country == "UK" else country  # OWM takes both
            for city in self.cities:
                if city.name.lower() == name.strip().lower() and country in ("", city.country):
                    return city
            if not name.strip():
                return _error(400, "400", "Nothing to geocode")
            return _error(404, "404", "city not found")
        if "id" in params:
            found = next((c for c in self.cities if str(c.id) == params["id"]), None)
            return found or _error(404, "404", "city not found")
        if "zip" in params:
            found = next((c for c in self.cities if c.zip == params["zip"].lower()), None)
            return found or _error(404, "404", "city not found")
        if "lat" in params or "lon" in params:
            return self._near(params)
        return _error(400, "400", "Nothing to geocode")

    def _near(self, params: dict[str, str]) -> FakeCity | web.Response:
        lat, lon = _degrees(params.get("lat"), 90), _degrees(params.get("lon"), 180)
        if lat is None:
            return _error(400, "400", "wrong latitude")
        if lon is None:
            return _error(400, "400", "wrong longitude")
        near = [c for c in self.cities if abs(c.lat - lat) <= 1 and abs(c.lon - lon) <= 1]
        if near:
            return min(near, key=lambda c: (c.lat - lat) ** 2 + (c.lon - lon) ** 2)
        # Open sea: OWM still answers, with an empty name and no country.
        return FakeCity(0, "", "", lat, lon, 288.15, "Clear", "clear sky", "01d")

    def _weather(self, params: dict[str, str]) -> web.Response:
        found = self._find(params)
        if isinstance(found, web.Response):
            return found
        units = params.get("units", "standard")
        if units not in ("standard", "metric", "imperial"):
            units = "standard"  # OWM ignores unknown units

        def temp(kelvin: float) -> float:
            if units == "metric":
                return round(kelvin - 273.15, 2)
            if units == "imperial":
                return round((kelvin - 273.15) * 9 / 5 + 32, 2)
            return kelvin

        wind = round(found.wind_ms * 2.23694, 2) if units == "imperial" else found.wind_ms
        description = found.description
        if params.get("lang") == "ru":
            description = _RU.get(description, description)
        now = int(time.time())
        sys: dict[str, Any] = {"type": 2, "id": 2000000 + found.id % 1000}
        if found.country:
            sys["country"] = found.country
        sys.update(sunrise=now - 6 * 3600, sunset=now + 4 * 3600)
        body = {
            "coord": {"lon": found.lon, "lat": found.lat},
            "weather": [
                {"id": 803, "main": found.condition, "description": description, "icon": found.icon}
            ],
            "base": "stations",
            "main": {
                "temp": temp(found.temp_k),
                "feels_like": temp(found.temp_k - 1.5),
                "temp_min": temp(found.temp_k - 2),
                "temp_max": temp(found.temp_k + 2),
                "pressure": found.pressure,
                "humidity": found.humidity,
            },
            "visibility": 10000,
            "wind": {"speed": wind, "deg": 240},
            "clouds": {"all": 75},
            "dt": now,
            "sys": sys,
            "timezone": found.timezone,
            "id": found.id,
            "name": found.name,
            "cod": 200,
        }
        return web.json_response(body)


CONTRACT_KEY = "c0ffee88fa797225412429c1c50c1e55"
CONTRACT = ContractSubject(
    service="openweathermap",
    fake=lambda: FakeOpenWeatherMap(api_keys={CONTRACT_KEY}),
    credentials={"api_key": CONTRACT_KEY},
    configs={"openweathermap_current_weather": {"city": "London,GB"}},
    invalid_configs={
        "openweathermap_current_weather": [
            ({}, "$"),
            ({"units": "metric"}, "$"),
            ({"city": "London", "city_id": 1}, "$"),
            ({"lat": 10}, "lon"),
            ({"lat": 91, "lon": 0}, "lat"),
            ({"lat": 0, "lon": 181}, "lon"),
            ({"city": ""}, "city"),
            ({"city_id": 0}, "city_id"),
            ({"zip": "94040"}, "zip"),
            ({"city": "x", "units": "kelvin"}, "units"),
            ({"city": "x", "lang": "Russian"}, "lang"),
            ({"city": "x", "appid": "k"}, "appid"),
        ],
    },
)
