"""A fake openFDA drug-label API: real HTTP on loopback, for tests and demos.

    async with FakeOpenFda() as fake:                     # 127.0.0.1:<free port>
        clients = HttpClients({"openfda": EndpointSettings(base_url=fake.url)})
        fake.add_label(brand_name="Advil", generic_name="IBUPROFEN")
        fake.inject("rate_limit")                         # the next call gets a 429
        fake.calls[-1].params                             # search, limit, skip, api_key

``GET /drug/label.json?search=openfda.<field>:"<value>"&limit=&skip=[&api_key=]`` answers
``{"meta": {..., "results": {"skip", "limit", "total"}}, "results": [<label>]}``; matching is
case-insensitive and exact on any value of the field, as openFDA's exact (quoted) search is.
Errors are openFDA's ``{"error": {"code", "message"}}`` with real statuses: 404 NOT_FOUND
"No matches found!", 400 BAD_REQUEST (limit > 1000, skip > 25000, a query it cannot parse),
403 API_KEY_INVALID (api.data.gov's gateway), 429 OVER_RATE_LIMIT; ``fail_next(status)``
answers in that shape too. The key is optional: with ``api_keys`` given, any *other* key is
refused, and no key is always accepted (anonymous).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeOpenFda", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429 OVER_RATE_LIMIT
    "api_key_invalid",  # 403 API_KEY_INVALID
    "bad_request",  # 400 BAD_REQUEST
]
_ERRORS: dict[str, tuple[int, str, str]] = {
    "rate_limit": (
        429,
        "OVER_RATE_LIMIT",
        "You have exceeded your rate limit. Try again later or contact us at "
        "https://api.data.gov:443/contact/ for assistance",
    ),
    "api_key_invalid": (
        403,
        "API_KEY_INVALID",
        "An invalid api_key was supplied. Get one at https://api.data.gov:443/signup",
    ),
    "bad_request": (400, "BAD_REQUEST", "Invalid parameter: search"),
}
_CODE_OF = {401: "UNAUTHORIZED", 403: "API_KEY_INVALID", 404: "NOT_FOUND", 429: "OVER_RATE_LIMIT"}
_SEARCH = re.compile(r'^openfda\.(?P<field>[a-z_]+):(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+))$')
_DISCLAIMER = (
    "Do not rely on openFDA to make decisions regarding medical care. While we make every effort "
    "to ensure that data is accurate, you should assume all results are unvalidated."
)


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]


_Injection = BaseInjection[FaultKind]


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


class FakeOpenFda(FakeServer[RecordedCall, _Injection]):
    """A fake openFDA on ``host:port`` (0: a free port), started by ``async with``."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_keys: Iterable[str] | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = None if api_keys is None else set(api_keys)
        self.labels: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/drug/label.json", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def add_label(
        self,
        *,
        brand_name: str,
        generic_name: str,
        manufacturer_name: str = "Fake Pharma Inc.",
        substance_name: str | None = None,
        route: str = "ORAL",
        product_type: str = "HUMAN OTC DRUG",
        **sections: str | list[str],
    ) -> dict[str, Any]:
        """Add a label (section texts as keyword arguments); returns the stored record."""
        label: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "set_id": str(uuid.uuid4()),
            "version": "3",
            "effective_time": "20240115",
            "openfda": {
                "brand_name": [brand_name],
                "generic_name": [generic_name],
                "manufacturer_name": [manufacturer_name],
                "substance_name": [substance_name or generic_name],
                "route": [route],
                "product_type": [product_type],
            },
        }
        for name, text in sections.items():
            label[name] = [text] if isinstance(text, str) else list(text)
        self.labels.append(label)
        return label

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` requests (None: all) fail with ``kind``, as openFDA words it.
        Other statuses (with a ``Retry-After``, which openFDA itself never sends), stalls and
        dropped connections: ``fail_next``, ``stall_next``, ``drop_next``."""
        self.queue(_Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: openFDA's body with the code it (or api.data.gov) sends."""
        headers = self.retry_after(retry_after_s)
        code = _CODE_OF.get(status, "SERVER_ERROR" if status >= 500 else "BAD_REQUEST")
        return _error(status, code, message, **headers)

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
            response = _error(*_ERRORS[injection.kind])
        else:
            response = self._search(call.params)
        call.status = response.status
        return response

    def _search(self, params: dict[str, str]) -> web.Response:
        key = params.get("api_key")
        if key is not None and self.api_keys is not None and key not in self.api_keys:
            return _error(403, *_ERRORS["api_key_invalid"][1:])
        try:
            limit, skip = int(params.get("limit", "1")), int(params.get("skip", "0"))
        except ValueError:
            return _error(400, "BAD_REQUEST", "Invalid parameter: limit or skip")
        if limit > 1000:
            return _error(
                400,
                "BAD_REQUEST",
                "Limit cannot exceed 1000 results for search "
                "requests. Use the skip or search_after param to get additional results.",
            )
        if skip > 25000:
            return _error(400, "BAD_REQUEST", "Skip value must 25000 or less.")
        match = _SEARCH.match(params.get("search", ""))
        if match is None:
            return _error(400, "BAD_REQUEST", "Invalid search query")
        wanted = (match["quoted"] if match["quoted"] is not None else match["bare"]).lower()
        found = [
            label
            for label in self.labels
            if wanted in (v.lower() for v in label["openfda"].get(match["field"], []))
        ]
        if not found:
            return _error(404, "NOT_FOUND", "No matches found!")
        meta = {
            "disclaimer": _DISCLAIMER,
            "terms": "https://open.fda.gov/terms/",
            "license": "https://open.fda.gov/license/",
            "last_updated": "2024-06-28",
            "results": {"skip": skip, "limit": limit, "total": len(found)},
        }
        return web.json_response({"meta": meta, "results": found[skip : skip + limit]})


CONTRACT_KEY = "fdaCONTRACT0123456789abcdefghijklmnopqrs"


def _contract_fake() -> FakeOpenFda:
    fake = FakeOpenFda(api_keys=[CONTRACT_KEY])
    fake.add_label(brand_name="Advil", generic_name="IBUPROFEN", purpose="Pain reliever")
    return fake


CONTRACT = ContractSubject(
    service="openfda",
    fake=_contract_fake,
    credentials={"api_key": CONTRACT_KEY},
    configs={"openfda_drug_label": {"name": "Advil"}},
    credentials_optional=True,  # no key: openFDA's anonymous quota
    invalid_configs={
        "openfda_drug_label": [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": 'Advil" OR openfda.route:"ORAL'}, "name"),
            ({"name": "a\\b"}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"name": "x", "search_by": "route"}, "search_by"),
            ({"name": "x", "limit": 11}, "limit"),
            ({"name": "x", "skip": 25001}, "skip"),
            ({"name": "x", "sections": []}, "sections"),
            ({"name": "x", "sections": ["spl_unclassified_section"]}, "sections[0]"),
            ({"name": "x", "max_section_chars": 50}, "max_section_chars"),
            ({"name": "x", "api_key": "k"}, "api_key"),
        ],
    },
)
