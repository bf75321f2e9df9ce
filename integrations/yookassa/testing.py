"""A fake YooKassa API v3: real HTTP on loopback, for tests and demos.

::

    async with FakeYooKassa() as fake:          # 127.0.0.1:<free port>
        clients = HttpClients({"yookassa": EndpointSettings(base_url=fake.base_url)})
        ...
        fake.payments                            # created payments, by id
        fake.inject("processing", retry_after_ms=500)   # the next POST gets a 202
        fake.fail_next(429, retry_after_s=2)     # YooKassa's error body, retry_after in ms

What it reproduces (``external-apis.md`` §5.2): HTTP Basic ``shopId:secretKey`` (401
``invalid_credentials`` otherwise); ``POST /v3/payments`` needs an ``Idempotence-Key`` header
(400 without, or over 64 chars); the same key with the same body replays the first answer, with
a different body it is 400 ``invalid_request`` on ``parameter: Idempotence-Key``; amounts are
strings with two decimals; errors are ``{"type":"error","id","code","description","parameter"}``;
202 and 429 carry ``retry_after`` in **milliseconds**. YooKassa's own faults: see
:data:`FaultKind`; plain statuses, cut connections and stalls come from
:class:`~integrations.testing.FakeServer` (``fail_next`` answers in YooKassa's error shape).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeYooKassa", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "processing",  # 202 + retry_after (ms); the same key is then processed normally
    "invalid_request",  # 400 invalid_request on `parameter`
    "server_error",  # 500: with deliver=True the payment IS created and the key remembers it
    "timeout",  # create (deliver) and answer only after delay_s
]

_CODES = {
    400: "invalid_request",
    401: "invalid_credentials",
    403: "forbidden",
    404: "not_found",
    429: "too_many_requests",
    500: "internal_server_error",
}
_AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{2}$")


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    body: Any
    shop_id: str | None

    @property
    def idempotence_key(self) -> str | None:
        return self.headers.get("Idempotence-Key")


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` POSTs (``None``: all of them)."""

    retry_after_ms: int | None
    parameter: str
    delay_s: float
    deliver: bool


@dataclass(slots=True)
class _Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


def _error_body(code: str, description: str, **extra: Any) -> dict[str, Any]:
    body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _error(status: int, code: str, description: str, **extra: Any) -> web.Response:
    return web.json_response(_error_body(code, description, **extra), status=status)


def _refused(description: str, parameter: str | None = None) -> tuple[int, dict[str, Any]]:
    """400 ``invalid_request``, naming the ``parameter`` at fault: (status, body)."""
    return 400, _error_body("invalid_request", description, parameter=parameter)


def _invalid(description: str, parameter: str | None = None) -> web.Response:
    """:func:`_refused` as a response."""
    status, body = _refused(description, parameter)
    return web.json_response(body, status=status)


class FakeYooKassa(FakeServer[RecordedCall, Injection]):
    """A fake YooKassa on ``host:port`` (0: a free port), started by ``async with``.

    ``shops`` maps shopId → secret key; by default one shop, ``shop_id`` / ``secret_key``.
    """

    api_path = "/v3"  # the real base URL ends in it

    def __init__(
        self,
        *,
        shop_id: str = "123456",
        secret_key: str = "test_fake_secret_key",  # noqa: S107 - the fake's own test key
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.shops: dict[str, str] = {shop_id: secret_key}
        super().__init__(host=host, port=port)
        self.payments: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple[str, str], _Stored] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/payments", self._create)
        app.router.add_get("/v3/payments/{payment_id}", self._get)

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """YooKassa's error object; a wait goes in its ``retry_after``, in milliseconds."""
        code = _CODES.get(status, f"http_{status}")
        wait = None if retry_after_s is None else round(retry_after_s * 1000)
        return _error(status, code, message, retry_after=wait)

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after_ms: int | None = None,
        parameter: str = "amount.value",
        delay_s: float = 30.0,
        deliver: bool = True,
    ) -> Injection:
        """Make the next ``times`` POSTs fail with ``kind``.

        ``retry_after_ms`` goes into the 202 body (default 1800); ``parameter`` into
        "invalid_request"; "server_error" and "timeout" create the payment first when
        ``deliver`` (so a retry with the same key gets it back, as YooKassa promises).
        """
        return self.queue(
            Injection(
                kind=kind,
                remaining=times,
                retry_after_ms=retry_after_ms,
                parameter=parameter,
                delay_s=delay_s,
                deliver=deliver,
            )
        )

    def clear(self) -> None:
        """Forget calls, payments, idempotency keys and injections."""
        super().clear()
        self.payments.clear()
        self._keys.clear()

    def posts(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == "POST"]

    # -- the server ------------------------------------------------------------------------------

    def _shop(self, request: web.Request) -> tuple[str | None, bool]:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None, False
        try:
            shop_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, False
        return shop_id, self.shops.get(shop_id) == secret

    def _record(self, request: web.Request, body: Any, shop_id: str | None) -> RecordedCall:
        call = RecordedCall(
            method=request.method, path=request.path, headers=dict(request.headers),
            body=body, shop_id=shop_id,
        )  # fmt: skip
        self.calls.append(call)
        return call

    async def _get(self, request: web.Request) -> web.Response:
        shop_id, ok = self._shop(request)
        call = self._record(request, None, shop_id)
        payment = self.payments.get(request.match_info["payment_id"])
        if not ok:
            response = _error(401, "invalid_credentials", "Login or password is incorrect")
        elif payment is None:
            response = _error(404, "not_found", "Payment not found")
        else:
            response = web.json_response(payment)
        call.status = response.status
        return response

    async def _create(self, request: web.Request) -> web.StreamResponse:
        shop_id, authorised = self._shop(request)
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        call = self._record(request, body, shop_id)
        response = await self._answer(request, call, authorised, raw)
        call.status = response.status
        return response

    async def _answer(
        self, request: web.Request, call: RecordedCall, authorised: bool, raw: bytes
    ) -> web.StreamResponse:
        if not authorised or call.shop_id is None:
            return _error(401, "invalid_credentials", "Login or password is incorrect")
        if request.content_type != "application/json":
            return _error(415, "invalid_request", "Unsupported content type")
        key = call.idempotence_key
        if not key or len(key) > 64:
            problem = "missing" if not key else "too long"
            return _invalid(f"Idempotence key is {problem}", "Idempotence-Key")
        fingerprint = json.dumps(call.body, sort_keys=True)
        stored = self._keys.get((call.shop_id, key))
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return _invalid("Idempotence key duplicated", "Idempotence-Key")
            return web.json_response(stored.body, status=stored.status)

        injection = self.take_injection()
        if injection is not None:
            return await self._fault(injection, call, key, fingerprint)
        status, answer = self._new_payment(call)
        if status == 200:
            self._keys[(call.shop_id, key)] = _Stored(fingerprint, status, answer)
        return web.json_response(answer, status=status)

    async def _fault(
        self,
        injection: Injection,
        call: RecordedCall,
        key: str,
        fingerprint: str,
    ) -> web.Response:
        kind = injection.kind
        if kind == "processing":
            wait = 1800 if injection.retry_after_ms is None else injection.retry_after_ms
            return web.json_response(
                {
                    "type": "processing",
                    "id": str(uuid.uuid4()),
                    "description": "Request accepted, processing is not finished",
                    "retry_after": wait,
                },
                status=202,
            )
        if kind == "invalid_request":
            return _invalid(f"Invalid value of {injection.parameter}", injection.parameter)
        # "server_error" / "timeout": maybe created, the answer lost; the key remembers it.
        assert call.shop_id is not None
        if injection.deliver:
            status, answer = self._new_payment(call)
            self._keys[(call.shop_id, key)] = _Stored(fingerprint, status, answer)
        if kind == "timeout":
            await self.wait_unless_closing(injection.delay_s)
        return _error(500, "internal_server_error", "Internal server error")

    def _new_payment(self, call: RecordedCall) -> tuple[int, dict[str, Any]]:
        body = call.body
        if not isinstance(body, dict):
            return _refused("Request body is not a JSON object")
        amount = body.get("amount")
        if not isinstance(amount, dict) or not isinstance(amount.get("value"), str):
            return _refused("Amount is missing", "amount.value")
        if not _AMOUNT_RE.match(amount["value"]) or float(amount["value"]) <= 0:
            return _refused("Invalid amount value", "amount.value")
        if not re.fullmatch(r"[A-Z]{3}", str(amount.get("currency", ""))):
            return _refused("Invalid currency", "amount.currency")
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 128):
            return _refused("Description is too long", "description")
        confirmation = body.get("confirmation")
        saved = body.get("payment_method_id")
        if saved is None:
            if not isinstance(confirmation, dict) or "type" not in confirmation:
                return _refused("Confirmation is missing", "confirmation")
            if confirmation["type"] == "redirect" and not confirmation.get("return_url"):
                return _refused("Return URL is missing", "confirmation.return_url")
        payment_id = f"{uuid.uuid4().hex[:8]}-000f-5000-a000-{uuid.uuid4().hex[:12]}"
        capture = body.get("capture", False) is True
        payment: dict[str, Any] = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": amount,
            "recipient": {"account_id": call.shop_id, "gateway_id": "2000001"},
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "metadata": body.get("metadata", {}),
            "refundable": False,
            "test": True,
        }
        if description is not None:
            payment["description"] = description
        if saved is not None:
            payment.update(status="succeeded" if capture else "waiting_for_capture", paid=True)
            payment["payment_method"] = {"type": "bank_card", "id": saved, "saved": True}
        else:
            assert isinstance(confirmation, dict)
            payment["confirmation"] = _confirmation(confirmation, payment_id)
        self.payments[payment_id] = payment
        return 200, payment


def _confirmation(request: dict[str, Any], payment_id: str) -> dict[str, Any]:
    kind = request["type"]
    if kind == "redirect":
        return {
            "type": "redirect",
            "return_url": request["return_url"],
            "confirmation_url": f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={payment_id}",
        }
    if kind == "embedded":
        return {"type": "embedded", "confirmation_token": f"ct-{payment_id}"}
    if kind == "qr":
        return {"type": "qr", "confirmation_data": f"https://qr.nspk.ru/{payment_id}"}
    return {"type": kind}


_PAY = {"amount": "100.00", "return_url": "https://x.example"}

CONTRACT = ContractSubject(
    service="yookassa",
    fake=FakeYooKassa,  # its default shop: 123456 / test_fake_secret_key
    credentials={"shop_id": "123456", "secret_key": "test_fake_secret_key"},
    configs={"yookassa_create_payment": _PAY},
    # YooKassa's 403 means "the keys are right, the shop may not do this": no new key helps.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "yookassa_create_payment": [
            ({"return_url": "https://x.example"}, "amount"),
            ({**_PAY, "amount": "10.001"}, "$.amount"),
            ({**_PAY, "amount": 100}, "$.amount"),
            ({**_PAY, "amount": "-5"}, "$.amount"),
            ({**_PAY, "currency": "rub"}, "$.currency"),
            ({**_PAY, "description": "x" * 129}, "$.description"),
            ({**_PAY, "metadata": {f"k{i}": "v" for i in range(17)}}, "$.metadata"),
            ({**_PAY, "metadata": {"k": 1}}, "$.metadata.k"),
            ({**_PAY, "colour": "red"}, "colour"),
            ({"amount": "1.00"}, "return_url"),
            ({**_PAY, "confirmation_type": "sms"}, "$.confirmation_type"),
            ({"amount": "1", "payment_method_id": "pm", "confirmation_type": "qr"}, "$"),
        ],
    },
)
