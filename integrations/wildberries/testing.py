"""A fake Wildberries Marketplace API (seller-warehouse stocks): real HTTP on loopback.

    async with FakeWildberries() as fake:                 # 127.0.0.1:<free port>
        clients = HttpClients({"wildberries": EndpointSettings(base_url=fake.url)})
        fake.set_stock(507, chrt_id=12345678, amount=10)
        fake.fail_next(429, retry_after_s=3)              # the next call gets WB's 429
        fake.inject("payment_required")                   # or one of WB's own errors
        fake.calls[-1].body                               # {"chrtIds": [...]}

``POST /api/v3/stocks/{warehouseId}`` with ``{"chrtIds": [...]}`` and the raw token in
``Authorization`` answers ``{"stocks": [{"chrtId", "amount"}]}`` for the sizes that warehouse
has a record of. Errors use WB's two shapes: ``application/problem+json`` for 401/402/403/429
(``title``, ``detail``, ``code``, ``requestId``, ``origin``, ``status``, ``statusText``,
``timestamp``) and ``{"code", "message"}`` for 400/404/409. A 429 carries
``X-Ratelimit-Retry`` / ``X-Ratelimit-Limit`` / ``X-Ratelimit-Reset`` and no
``X-Ratelimit-Remaining``, as WB documents. With ``burst`` set, the fake also runs WB's token
bucket itself (``burst`` requests, refilled at ``refill_per_s``). A bare ``fail_next(status)``
answers in those shapes too (:meth:`FakeWildberries.error_response`); ``CONTRACT`` runs the shared
contract suite (``tests/integrations/test_contract.py``) against this fake.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeWildberries", "FaultKind", "RecordedCall"]

# Statuses, stalls and dropped connections are the shared faults (FakeServer.fail_next, ...).
FaultKind = Literal[
    "forbidden",  # 403
    "payment_required",  # 402
    "bad_request",  # 400 IncorrectRequestBody
]
_PROBLEMS = {
    401: (
        "unauthorized",
        "token expired; Manage tokens at "
        "https://seller.wildberries.ru/supplier-settings/access-to-api",
    ),
    402: ("payment required", "wb solution for business has insufficient funds on its balance"),
    403: ("forbidden", "access denied: token scope does not allow this method"),
    429: ("too many requests", "limited by c122a060-a7fb-4bb4-abb0-32fd4e18d489"),
}
_STATUS_TEXT = {
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    429: "Too Many Requests",
}


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    body: Any  # the decoded JSON body (None if it was not JSON)

    @property
    def token(self) -> str | None:
        return self.headers.get("Authorization")


_Injection = BaseInjection[FaultKind]


def _problem(status: int, *, detail: str | None = None, **headers: str) -> web.Response:
    title, default = _PROBLEMS[status]
    body = {
        "title": title,
        "detail": detail or default,
        "code": "07e4668e-ac2242c5c8c5-[UK-4dx7JUdskGZ]",
        "requestId": uuid.uuid4().hex,
        "origin": "s2s-api-auth-marketplace",
        "status": status,
        "statusText": _STATUS_TEXT[status],
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class FakeWildberries(FakeServer[RecordedCall, _Injection]):
    """A fake Marketplace API on ``host:port`` (0: a free port), started by ``async with``.

    Tokens: any non-empty ``Authorization`` is accepted unless ``tokens`` lists the valid ones.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[str] | None = None,
        burst: int | None = None,
        refill_per_s: float = 5.0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.tokens = None if tokens is None else set(tokens)
        self.stocks: dict[int, dict[int, int]] = {}
        self.burst = burst
        self.refill_per_s = refill_per_s
        self._bucket = float(burst or 0)
        self._bucket_at = time.monotonic()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v3/stocks/{warehouse_id}", self._handle)

    def set_stock(self, warehouse_id: int, *, chrt_id: int, amount: int) -> None:
        """Record ``amount`` of size ``chrt_id`` on the seller's warehouse ``warehouse_id``."""
        self.stocks.setdefault(warehouse_id, {})[chrt_id] = amount

    def inject(self, kind: FaultKind, *, times: int | None = 1) -> None:
        """Make the next ``times`` requests (None: all) fail with ``kind``."""
        self.queue(_Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """problem+json for 401/402/403/429 (a 429 with ``X-Ratelimit-Retry`` when a wait is
        given), WB's ``{"code", "message"}`` for any other status."""
        if status == 429 and retry_after_s is not None:
            return self._rate_limited(retry_after_s)
        if status in _PROBLEMS:
            return _problem(status, detail=message)
        code = "".join(word.capitalize() for word in _reason(status).split()) or f"Http{status}"
        return _error(status, code, message)

    def clear(self) -> None:
        """Forget calls and injections, refill the bucket (stocks stay)."""
        super().clear()
        self._bucket = float(self.burst or 0)

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
        response = self._answer(request, call)
        call.status = response.status
        return response

    def _answer(self, request: web.Request, call: RecordedCall) -> web.Response:
        if (injection := self.take_injection()) is not None:
            return self._fault(injection)
        token = call.token
        if not token:
            return _problem(401, detail="empty Authorization header")
        if token.lower().startswith("bearer "):
            return _problem(401, detail="token problem; token is malformed: Bearer prefix")
        if self.tokens is not None and token not in self.tokens:
            return _problem(401, detail="token problem; token is malformed: could not parse")
        if (wait := self._take()) is not None:
            return self._rate_limited(wait)
        chrt_ids = call.body.get("chrtIds") if isinstance(call.body, dict) else None
        if not isinstance(chrt_ids, list) or not all(isinstance(c, int) for c in chrt_ids):
            return _error(400, "IncorrectRequestBody", "Некорректное тело запроса")
        try:
            warehouse = int(request.match_info["warehouse_id"])
        except ValueError:
            return _error(400, "IncorrectParameter", "Передан некорректный параметр")
        held = self.stocks.get(warehouse)
        if held is None:
            return _error(404, "NotFound", "Склад не найден")
        rows = [{"chrtId": c, "amount": held[c]} for c in chrt_ids if c in held]
        return web.json_response({"stocks": rows})

    @staticmethod
    def _fault(injection: _Injection) -> web.Response:
        kind = injection.kind
        if kind in ("forbidden", "payment_required"):
            return _problem({"forbidden": 403, "payment_required": 402}[kind])
        return _error(400, "IncorrectRequestBody", "Некорректное тело запроса")  # "bad_request"

    def _rate_limited(self, retry_after: float) -> web.Response:
        seconds = max(1, math.ceil(retry_after))
        return _problem(
            429,
            **{
                "X-Ratelimit-Retry": str(seconds),
                "X-Ratelimit-Limit": str(self.burst or 20),
                "X-Ratelimit-Reset": str(seconds),
            },
        )

    def _take(self) -> float | None:
        """Take one token from the bucket; seconds until the next one if it is empty."""
        if self.burst is None:
            return None
        now = time.monotonic()
        self._bucket = min(self.burst, self._bucket + (now - self._bucket_at) * self.refill_per_s)
        self._bucket_at = now
        if self._bucket >= 1:
            self._bucket -= 1
            return None
        return (1 - self._bucket) / self.refill_per_s if self.refill_per_s > 0 else 60.0


CONTRACT_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzaWQiOiJjb250cmFjdCJ9.c2lnbmF0dXJlLWNvbnRyYWN0"  # noqa: S105
CONTRACT_WAREHOUSE, CONTRACT_CHRT_ID = 507, 12345678


def _contract_fake() -> FakeWildberries:
    fake = FakeWildberries(tokens=[CONTRACT_TOKEN])
    fake.set_stock(CONTRACT_WAREHOUSE, chrt_id=CONTRACT_CHRT_ID, amount=3)
    return fake


CONTRACT = ContractSubject(
    service="wildberries",
    fake=_contract_fake,
    credentials={"token": CONTRACT_TOKEN},
    configs={
        "wildberries_get_stocks": {
            "warehouse_id": CONTRACT_WAREHOUSE,
            "chrt_ids": [CONTRACT_CHRT_ID],
        }
    },
    invalid_configs={
        "wildberries_get_stocks": [
            ({"chrt_ids": [1]}, "warehouse_id"),
            ({"warehouse_id": 0, "chrt_ids": [1]}, "warehouse_id"),
            ({"warehouse_id": "507", "chrt_ids": [1]}, "warehouse_id"),
            ({"warehouse_id": 1, "chrt_ids": []}, "chrt_ids"),
            ({"warehouse_id": 1, "chrt_ids": list(range(1, 1002))}, "chrt_ids"),
            ({"warehouse_id": 1, "chrt_ids": [5, 5]}, "chrt_ids"),
            ({"warehouse_id": 1, "chrt_ids": [-1]}, "chrt_ids[0]"),
            ({"warehouse_id": 1, "chrt_ids": ["1"]}, "chrt_ids[0]"),
            ({"warehouse_id": 1, "chrt_ids": [1], "skus": ["x"]}, "skus"),
        ],
    },
)
