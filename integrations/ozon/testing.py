"""A fake Ozon Seller API (product stocks): real HTTP on loopback.

    async with FakeOzon(keys={"123456": "key"}) as fake:   # 127.0.0.1:<free port>
        clients = HttpClients({"ozon": EndpointSettings(base_url=fake.url)})
        fake.add_product(214887921, "PH8865", fbo=(10, 2), fbs=(3, 0))
        fake.inject("rate_limit")                           # the next call gets Ozon's 429
        fake.calls[-1].body                                 # {"filter": ..., "limit": ...}

``POST /v4/product/info/stocks`` with ``Client-Id`` and ``Api-Key`` and ``{"filter":
{"offer_id", "product_id", "visibility"}, "limit", "cursor"}`` answers ``{"items":
[{"product_id", "offer_id", "stocks": [{"type", "sku", "present", "reserved", "shipment_type",
"warehouse_ids"}]}], "total", "cursor"}``, one page of ``limit`` products in product-id order;
the cursor is opaque (base64 of the next offset) and empty after the last page. Errors are
grpc-gateway bodies ``{"code": <gRPC code>, "message", "details": []}`` with real statuses: 401
code 16 without the headers, 403 code 7 for an unknown key, 400 code 3 for a bad limit or
cursor, 429 code 8 for the per-second limit (no Retry-After, as Ozon sends none); a bare
``fail_next(status)`` answers in that shape too (:meth:`FakeOzon.error_response`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeOzon", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429 code 8
    "permission_denied",  # 403 code 7: the key's role lacks the method
    "invalid_argument",  # 400 code 3
]
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14, 504: 4}
_RATE_LIMITED = "You have reached request rate limit per second"
_DENIED = (
    's2s: method "/ozon.seller.v4.ProductAPI/GetProductInfoStocks" is not allowed for the '
    "provided access tokens: permission denied"
)


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    body: Any  # the decoded JSON body (None if it was not JSON)

    @property
    def client_id(self) -> str | None:
        return self.headers.get("Client-Id")

    @property
    def api_key(self) -> str | None:
        return self.headers.get("Api-Key")


@dataclass(slots=True)
class Product:
    """A seller's product and its stocks (one row per warehouse type)."""

    product_id: int
    offer_id: str
    stocks: list[dict[str, Any]] = field(default_factory=list)
    visible: bool = True
    archived: bool = False


_Injection = BaseInjection[FaultKind]


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"code": _GRPC_CODE.get(status, 2), "message": message,
            "details": []}  # fmt: skip
    return web.json_response(body, status=status, headers=dict(headers or {}))


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(cursor: str) -> int | None:
    try:
        offset = json.loads(base64.b64decode(cursor, validate=True))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


class FakeOzon(FakeServer[RecordedCall, _Injection]):
    """A fake Seller API on ``host:port`` (0: a free port), started by ``async with``.

    ``keys`` maps each Client-Id to its Api-Key; ``None`` accepts any non-empty pair.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, keys: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self.keys = None if keys is None else dict(keys)
        self.products: dict[int, Product] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v4/product/info/stocks", self._handle)

    def add_product(
        self,
        product_id: int,
        offer_id: str,
        *,
        fbo: tuple[int, int] | None = None,
        fbs: tuple[int, int] | None = None,
        sku: int | None = None,
        visible: bool = True,
        archived: bool = False,
    ) -> Product:
        """Add a product with ``(present, reserved)`` on Ozon's (fbo) and the seller's (fbs)
        warehouses; returns it."""
        stocks = []
        for kind, held in (("fbo", fbo), ("fbs", fbs)):
            if held is not None:
                stocks.append({
                    "type": kind, "sku": sku or product_id + 1_000_000_000, "present": held[0],
                    "reserved": held[1], "shipment_type": "SHIPMENT_TYPE_GENERAL",
                    "warehouse_ids": [] if kind == "fbo" else ["22142605386000"],
                })  # fmt: skip
        product = Product(product_id, offer_id, stocks, visible, archived)
        self.products[product_id] = product
        return product

    def inject(self, kind: FaultKind, *, times: int | None = 1) -> None:
        """Make the next ``times`` requests (None: all) fail with ``kind``, as Ozon words it."""
        self.queue(_Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: Ozon's body with the gRPC code of ``status``."""
        return _error(status, message, headers=self.retry_after(retry_after_s))

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        call = RecordedCall(
            method=request.method, path=request.path, headers=dict(request.headers), body=body
        )
        self.calls.append(call)
        response = self._answer(call)
        call.status = response.status
        return response

    def _answer(self, call: RecordedCall) -> web.Response:
        if (injection := self.take_injection()) is not None:
            if injection.kind == "rate_limit":
                return _error(429, _RATE_LIMITED)
            if injection.kind == "permission_denied":
                return _error(403, _DENIED)
            return _error(400, "invalid request payload")
        client_id, api_key = call.client_id, call.api_key
        if not client_id or not api_key:
            return _error(401, "Client-Id and Api-Key headers are required")
        if not client_id.isdigit():
            return _error(400, "Invalid Client-Id")
        if self.keys is not None and self.keys.get(client_id) != api_key:
            return _error(403, "Invalid Api-Key, please contact support")
        if not isinstance(call.body, dict) or not isinstance(call.body.get("filter"), dict):
            return _error(400, "invalid request payload: filter is required")
        limit = call.body.get("limit")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return _error(
                400, "invalid request payload: Limit: value must be inside range [1, 1000]"
            )
        offset = 0
        if call.body.get("cursor"):
            found = _offset(str(call.body["cursor"]))
            if found is None:
                return _error(400, "invalid cursor")
            offset = found
        chosen = self._filtered(call.body["filter"])
        page = chosen[offset : offset + limit]
        following = offset + len(page)
        return web.json_response({
            "items": [
                {"product_id": p.product_id, "offer_id": p.offer_id, "stocks": p.stocks}
                for p in page
            ],
            "total": len(chosen),
            "cursor": _cursor(following) if following < len(chosen) else "",
        })  # fmt: skip

    def _filtered(self, filters: dict[str, Any]) -> list[Product]:
        offers = filters.get("offer_id") or None
        ids = filters.get("product_id") or None
        visibility = filters.get("visibility", "ALL")
        chosen = []
        for product in sorted(self.products.values(), key=lambda p: p.product_id):
            if offers is not None and product.offer_id not in offers:
                continue
            if ids is not None and str(product.product_id) not in [str(i) for i in ids]:
                continue
            if visibility == "ARCHIVED" and not product.archived:
                continue
            if visibility != "ARCHIVED" and product.archived:
                continue
            if visibility == "VISIBLE" and not product.visible:
                continue
            if visibility == "INVISIBLE" and product.visible:
                continue
            chosen.append(product)
        return chosen


CONTRACT_CLIENT_ID = "1928374"
CONTRACT_API_KEY = "5f1c9e2a-7b3d-4e8f-a6c1-0d2e4f6a8b9c"  # the fake's, not a secret


def _contract_fake() -> FakeOzon:
    fake = FakeOzon(keys={CONTRACT_CLIENT_ID: CONTRACT_API_KEY})
    fake.add_product(214887921, "PH8865", fbo=(10, 2), fbs=(3, 1))
    return fake


CONTRACT = ContractSubject(
    service="ozon",
    fake=_contract_fake,
    credentials={"client_id": CONTRACT_CLIENT_ID, "api_key": CONTRACT_API_KEY},
    configs={"ozon_get_stocks": {"offer_ids": ["PH8865"], "limit": 10}},
    invalid_configs={
        "ozon_get_stocks": [
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"limit": "10"}, "limit"),
            ({"offer_ids": []}, "offer_ids"),
            ({"offer_ids": ["a", "a"]}, "offer_ids"),
            ({"offer_ids": ["x" * 101]}, "offer_ids[0]"),
            ({"offer_ids": ["a\nb"]}, "offer_ids[0]"),
            ({"product_ids": [0]}, "product_ids[0]"),
            ({"product_ids": ["1"]}, "product_ids[0]"),
            ({"product_ids": list(range(1, 1002))}, "product_ids"),
            ({"visibility": "EVERYTHING"}, "visibility"),
            ({"cursor": ""}, "cursor"),
            ({"cursor": "x" * 1025}, "cursor"),
            ({"cursor": "abc def"}, "cursor"),
            ({"filter": {"visibility": "ALL"}}, "filter"),
        ],
    },
)
