"""A fake Yandex Maps Geocoder HTTP API: real HTTP on loopback, for tests and demos.

    async with FakeYandexGeocoder(api_keys={"k"}) as fake:   # 127.0.0.1:<free port>
        clients = HttpClients({"yandexmaps": EndpointSettings(base_url=fake.url)})
        fake.inject("rate_limit")         # the next call: 429
        fake.calls[0].params              # geocode / lang / format / results / kind / sco

It answers as the Geocoder does (yandex.ru/maps-api/docs/geocoder-api and yandex.com/dev/geocode
/doc "Response format"): ``GET /v1/`` (and the older ``/1.x/``) with ``apikey``, ``geocode``,
``lang``, ``format=json``, ``results``, ``kind`` and ``sco``; a success is ``{"response":
{"GeoObjectCollection": {"metaDataProperty": {"GeocoderResponseMetaData": {"request", "found",
"results"}}, "featureMember": [{"GeoObject": {...}}]}}}`` with every ``pos`` written "lon lat"
and ``found`` a string. A reverse ``geocode`` is read as "lon,lat" (``sco=latlong`` swaps it)
and answers the known toponyms around the point, smallest first (house, street, district,
locality), as the docs describe. Errors have real statuses and ``{"statusCode", "error",
"message"}``; ``fail_next(status)`` answers in that shape too. Names come in Russian, or in
English for ``lang=en_*``/``tr_TR``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeToponym", "FakeYandexGeocoder", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429: over 50 requests/s
    "daily_limit",  # 429: the free tier's daily cap
    "invalid_key",  # 403: Invalid api key
]
_KINDS = frozenset({"house", "street", "metro", "district", "locality"})
# How far (degrees) a reverse lookup finds a toponym of each kind: smaller ones first.
_REACH = {"house": 0.002, "metro": 0.004, "street": 0.006, "district": 0.01, "locality": 0.3}
_PHRASES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}


@dataclass(frozen=True, slots=True)
class FakeToponym:
    """A place the fake knows: its kind, precision, point and (kind, Russian, English) parts."""

    kind: str
    precision: str
    lat: float
    lon: float
    components: tuple[tuple[str, str, str], ...]
    postal_code: str | None = None
    country_code: str = "RU"

    def names(self, english: bool) -> list[tuple[str, str]]:
        return [(kind, en if english else ru) for kind, ru, en in self.components]


_RUSSIA = ("country", "Россия", "Russia")
_CFD = ("province", "Центральный федеральный округ", "Central Federal District")
_MOSCOW_REGION = ("province", "Москва", "Moscow")
_MOSCOW = ("locality", "Москва", "Moscow")
DEFAULT_TOPONYMS = (
    FakeToponym("locality", "other", 55.755864, 37.617698,
                (_RUSSIA, _CFD, _MOSCOW_REGION, _MOSCOW)),
    FakeToponym("street", "street", 55.75393, 37.620795,
                (_RUSSIA, _CFD, _MOSCOW_REGION, _MOSCOW,
                 ("street", "Красная площадь", "Red Square"))),
    FakeToponym("house", "exact", 55.753083, 37.587614,
                (_RUSSIA, _CFD, _MOSCOW_REGION, _MOSCOW,
                 ("street", "улица Новый Арбат", "Novy Arbat Street"), ("house", "24", "24")),
                postal_code="119019"),
    FakeToponym("metro", "other", 55.757794, 37.61603,
                (_RUSSIA, _CFD, _MOSCOW_REGION, _MOSCOW,
                 ("route", "Сокольническая линия", "Sokolnicheskaya Line"),
                 ("metro", "метро Охотный Ряд", "Okhotny Ryad metro station"))),
    FakeToponym("district", "other", 55.7575, 37.6110,
                (_RUSSIA, _CFD, _MOSCOW_REGION, _MOSCOW,
                 ("district", "Тверской район", "Tverskoy District"))),
    FakeToponym("locality", "other", 59.938951, 30.315635,
                (_RUSSIA, ("province", "Северо-Западный федеральный округ",
                           "Northwestern Federal District"),
                 ("province", "Санкт-Петербург", "Saint Petersburg"),
                 ("locality", "Санкт-Петербург", "Saint Petersburg"))),
)  # fmt: skip


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received (``apikey`` kept out of ``params``)."""

    path: str
    params: dict[str, str]
    apikey: str | None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next requests with a valid key get; returned by
    :meth:`FakeYandexGeocoder.inject`."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"statusCode": status, "error": _PHRASES.get(status, "Error"), "message": message}
    return web.json_response(body, status=status, headers=headers)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _pos(lat: float, lon: float) -> str:
    return f"{lon:.6f} {lat:.6f}"  # the Geocoder's order: longitude first


class FakeYandexGeocoder(FakeServer[RecordedCall, Injection]):
    """A fake Geocoder on ``host:port`` (0: a free port), started by ``async with``.

    ``api_keys``: the keys it accepts (empty: any non-empty ``apikey``). ``toponyms``: the places
    it knows (forward: every word of the request in the place's address, in either language).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        toponyms: Iterable[FakeToponym] = DEFAULT_TOPONYMS,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = set(api_keys)
        self.toponyms = list(toponyms)

    def routes(self, app: web.Application) -> None:
        for path in ("/v1/", "/v1", "/1.x/", "/1.x"):
            app.router.add_get(path, self._handle)

    # -- control ---------------------------------------------------------------------------------

    def inject(self, kind: FaultKind, *, times: int | None = 1) -> Injection:
        """Make the next ``times`` requests (None: all) with a valid key fail with ``kind``.
        Other statuses, stalls and dropped connections: ``fail_next``, ``stall_next``,
        ``drop_next``."""
        return self.queue(Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: the Geocoder's ``{"statusCode", "error", "message"}``."""
        return _error(status, message, self.retry_after(retry_after_s))

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        apikey = params.pop("apikey", None)
        call = RecordedCall(
            path=request.path, params=params, apikey=apikey, headers=dict(request.headers)
        )
        self.calls.append(call)
        response = self._respond(call)
        call.status = response.status
        return response

    def _respond(self, call: RecordedCall) -> web.Response:
        if not call.apikey:
            return _error(403, "Missing apikey parameter")
        if self.api_keys and call.apikey not in self.api_keys:
            return _error(403, "Invalid api key")
        injection = self.take_injection()
        if injection is not None:
            if injection.kind == "invalid_key":
                return _error(403, "Invalid api key")
            if injection.kind == "daily_limit":
                return _error(429, "Daily request limit exceeded")
            return _error(429, "Too many requests")
        params = call.params
        geocode = params.get("geocode", "").strip()
        if not geocode:
            return _error(400, "Missing geocode parameter")
        try:
            results = int(params.get("results", "10"))
        except ValueError:
            return _error(400, "Invalid results parameter")
        if not 1 <= results <= 100:
            return _error(400, "Invalid results parameter")
        kind = params.get("kind")
        if kind is not None and kind not in _KINDS:
            return _error(400, f"Invalid kind parameter: {kind}")
        english = params.get("lang", "ru_RU").split("_")[0] in ("en", "tr")
        found = self._reverse(geocode, kind, params.get("sco")) if _is_point(geocode) else None
        if found is None:
            found = self._forward(geocode)
        members = [{"GeoObject": self._geo_object(t, english)} for t in found[:results]]
        meta = {"request": geocode, "results": str(results), "found": str(len(found))}
        collection = {
            "metaDataProperty": {"GeocoderResponseMetaData": meta},
            "featureMember": members,
        }
        return web.json_response({"response": {"GeoObjectCollection": collection}})

    def _forward(self, geocode: str) -> list[FakeToponym]:
        wanted = _words(geocode)

        def words(toponym: FakeToponym) -> set[str]:
            return _words(" ".join(f"{ru} {en}" for _, ru, en in toponym.components))

        found = [t for t in self.toponyms if wanted <= words(t)]
        return sorted(found, key=lambda t: len(t.components))

    def _reverse(self, geocode: str, kind: str | None, sco: str | None) -> list[FakeToponym]:
        first, second = (float(part) for part in geocode.split(","))
        lat, lon = (first, second) if sco == "latlong" else (second, first)
        near = [
            t
            for t in self.toponyms
            if (kind is None or t.kind == kind)
            and abs(t.lat - lat) <= _REACH[t.kind]
            and abs(t.lon - lon) <= _REACH[t.kind] * 2  # a degree of longitude is shorter
        ]
        return sorted(near, key=lambda t: _REACH[t.kind])

    @staticmethod
    def _geo_object(toponym: FakeToponym, english: bool) -> dict[str, Any]:
        names = toponym.names(english)
        shown = [name for kind, name in names if kind not in ("province", "area", "route")]
        local = [name for kind, name in names if kind in ("country", "locality")]
        if toponym.kind == "house":
            name = ", ".join(shown[-2:])  # "Novy Arbat Street, 24", as the Geocoder names it
            description = ", ".join(reversed(local))
        else:
            name = names[-1][1]
            description = ", ".join(n for n in reversed(local) if n != name)
        address: dict[str, Any] = {
            "country_code": toponym.country_code,
            "formatted": ", ".join(shown[1:]) or shown[0],
            "Components": [{"kind": kind, "name": name} for kind, name in names],
        }
        if toponym.postal_code:
            address["postal_code"] = toponym.postal_code
        geo: dict[str, Any] = {
            "metaDataProperty": {
                "GeocoderMetaData": {
                    "kind": toponym.kind,
                    "text": ", ".join(shown),
                    "precision": toponym.precision,
                    "Address": address,
                }
            },
            "name": name,
            "boundedBy": {
                "Envelope": {
                    "lowerCorner": _pos(toponym.lat - 0.002, toponym.lon - 0.004),
                    "upperCorner": _pos(toponym.lat + 0.002, toponym.lon + 0.004),
                }
            },
            "Point": {"pos": _pos(toponym.lat, toponym.lon)},
        }
        if description:
            geo["description"] = description
        return geo


def _is_point(geocode: str) -> bool:
    """Whether ``geocode`` is two numbers, "x,y" (a reverse lookup)."""
    parts = geocode.split(",")
    try:
        return len(parts) == 2 and all(abs(float(p)) <= 180 for p in parts)
    except ValueError:
        return False


CONTRACT_KEY = "c0ffee00-1234-4abc-9def-contract0ymap"
CONTRACT = ContractSubject(
    service="yandexmaps",
    fake=lambda: FakeYandexGeocoder(api_keys={CONTRACT_KEY}),
    credentials={"api_key": CONTRACT_KEY},
    configs={"yandexmaps_geocode": {"address": "Red Square, Moscow"}},
    invalid_configs={
        "yandexmaps_geocode": [
            ({}, "$"),
            ({"address": ""}, "address"),
            ({"address": "x" * 501}, "address"),
            ({"address": "x", "lat": 1, "lon": 2}, "$"),
            ({"lat": 55.75}, "lon"),
            ({"lat": 91, "lon": 37.6}, "lat"),
            ({"lat": 55.7, "lon": 181}, "lon"),
            ({"address": "Moscow", "kind": "house"}, "kind"),
            ({"lat": 55.7, "lon": 37.6, "kind": "planet"}, "kind"),
            ({"address": "x", "lang": "ru"}, "lang"),
            ({"address": "x", "results": 0}, "results"),
            ({"address": "x", "results": 51}, "results"),
            ({"address": "x", "apikey": "sneaky"}, "apikey"),
        ],
    },
)
