"""A fake Stripe API (PaymentIntents): real HTTP on loopback, for tests and demos.

stripe-python talks to it unmodified through ``base_addresses={"api": fake.url}``::

    async with FakeStripe() as fake:
        clients = HttpClients({"stripe": EndpointSettings(base_url=fake.url)})
        ...
        fake.intents                                   # created PaymentIntents, by id
        fake.inject("idempotency_conflict")            # the next POST gets a 409
        fake.fail_next(429)                            # in Stripe's error envelope

What it reproduces (``external-apis.md`` §5.1): ``Authorization: Bearer sk_...``; form-encoded
bodies with bracket nesting (``metadata[order]=42``); the error envelope
``{"error": {"type", "code", "decline_code", "message", "param", "payment_intent"}}`` with a
``Request-Id`` header; **idempotency**: a key's first executed answer (200, 402, or a 500 marked
``Stripe-Should-Retry: false``) is saved and replayed with ``Idempotent-Replayed: true``; the
same key with other parameters is 400 ``idempotency_error``; while a request with that key is in
flight it is 409. Validation failures are not saved, as on Stripe. Test payment methods and the
PaymentIntent state machine: :mod:`integrations.stripe.testing_intents`. Stripe's own faults: see
:data:`FaultKind`; plain statuses, cut connections and stalls come from
:class:`~integrations.testing.FakeServer` (``fail_next`` answers in Stripe's error envelope).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from integrations.stripe.testing_intents import (
    decline,
    idempotency_key_in_use,
    invalid,
    new_intent,
    parse_form,
    validate,
)
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeStripe", "FaultKind", "Injection", "RecordedCall", "parse_form"]

FaultKind = Literal[
    "rate_limit",  # 429 (Stripe-Should-Retry when should_retry is given)
    "card_declined",  # 402 card_error (decline_code)
    "invalid_request",  # 400 invalid_request_error on `param`
    "idempotency_conflict",  # 409 idempotency_key_in_use
    "server_error",  # 500 (status=...); should_retry=False saves it for the key, as Stripe does
    "timeout",  # create, then finish (save for the key, answer) only after delay_s
]


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, Any]
    replayed: bool = False

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def api_key(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` POSTs (``None``: all of them)."""

    should_retry: bool | None
    status: int
    param: str
    decline_code: str
    delay_s: float


@dataclass(slots=True)
class _Saved:
    fingerprint: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _error(
    status: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error}, status=status, headers=headers)


class FakeStripe(FakeServer[RecordedCall, Injection]):
    """A fake Stripe on ``host:port`` (0: a free port), started by ``async with``.

    ``api_keys`` are accepted (any other gets 401); ``customers`` exist (others are
    ``resource_missing``).
    """

    def __init__(
        self,
        *,
        api_keys: tuple[str, ...] = ("sk_test_fake_key_for_tests",),
        customers: tuple[str, ...] = ("cus_Test123",),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_keys = set(api_keys)
        self.customers = set(customers)
        super().__init__(host=host, port=port)
        self.intents: dict[str, dict[str, Any]] = {}
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._in_flight: set[tuple[str, str]] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/payment_intents", self._create)
        app.router.add_get("/v1/payment_intents/{intent_id}", self._retrieve)

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Stripe's error envelope, with a ``Request-Id`` (and ``Retry-After`` when given)."""
        kind = "api_error" if status >= 500 else "invalid_request_error"
        headers = {"Request-Id": f"req_{secrets.token_hex(7)}"} | self.retry_after(retry_after_s)
        return _error(status, {"type": kind, "message": message}, headers)

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        should_retry: bool | None = None,
        status: int = 500,
        param: str = "amount",
        decline_code: str = "generic_decline",
        delay_s: float = 30.0,
    ) -> Injection:
        """Make the next ``times`` POSTs fail with ``kind`` (see :data:`FaultKind`)."""
        return self.queue(
            Injection(
                kind=kind,
                remaining=times,
                should_retry=should_retry,
                status=status,
                param=param,
                decline_code=decline_code,
                delay_s=delay_s,
            )
        )

    def clear(self) -> None:
        """Forget calls, intents, saved idempotent answers and injections."""
        super().clear()
        self.intents.clear()
        self._saved.clear()

    def posts(self) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == "POST"]

    # -- the server ------------------------------------------------------------------------------

    def _authorised(self, call: RecordedCall) -> web.Response | None:
        key = call.api_key
        if key in self.api_keys:
            return None
        shown = f"{key[:8]}{'*' * 4}{key[-4:]}" if key and len(key) > 12 else "(none)"
        return _error(
            401,
            {"type": "invalid_request_error", "message": f"Invalid API Key provided: {shown}"},
        )

    async def _retrieve(self, request: web.Request) -> web.Response:
        call = RecordedCall(
            method="GET",
            path=request.path,
            headers=dict(request.headers),
            params=dict(request.query),
        )
        self.calls.append(call)
        response = self._authorised(call)
        if response is None:
            intent = self.intents.get(request.match_info["intent_id"])
            if intent is None:
                response = _error(
                    404, invalid("No such payment_intent", "intent", "resource_missing")
                )
            else:
                response = web.json_response(intent)
        call.status = response.status
        return response

    async def _create(self, request: web.Request) -> web.StreamResponse:
        params = parse_form(await request.text())
        call = RecordedCall(
            method="POST", path=request.path, headers=dict(request.headers), params=params
        )
        self.calls.append(call)
        response = await self._answer(call)
        call.status = response.status
        response.headers.setdefault("Request-Id", f"req_{secrets.token_hex(7)}")
        return response

    async def _answer(self, call: RecordedCall) -> web.Response:
        denied = self._authorised(call)
        if denied is not None:
            return denied
        key = call.idempotency_key
        scope = (call.api_key or "", key or "")
        fingerprint = json.dumps(call.params, sort_keys=True)
        if key:
            saved = self._saved.get(scope)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request."
                    )
                    return _error(400, {"type": "idempotency_error", "message": message})
                call.replayed = True
                headers = {**saved.headers, "Idempotent-Replayed": "true"}
                return web.json_response(saved.body, status=saved.status, headers=headers)
            if scope in self._in_flight:
                return _error(409, idempotency_key_in_use(key))
            self._in_flight.add(scope)
        try:
            return await self._execute(call, scope if key else None, fingerprint)
        finally:
            self._in_flight.discard(scope)

    async def _execute(
        self, call: RecordedCall, scope: tuple[str, str] | None, fingerprint: str
    ) -> web.Response:
        if (injection := self.take_injection()) is not None:
            return await self._fault(injection, call, scope, fingerprint)
        problem = validate(call.params, self.customers)
        if problem is not None:
            return _error(400, problem)  # failed validation: not saved for the key
        status, body = self._create_intent(call.params)
        if scope is not None:
            self._saved[scope] = _Saved(fingerprint, status, body)
        return web.json_response(body, status=status)

    async def _fault(
        self,
        injection: Injection,
        call: RecordedCall,
        scope: tuple[str, str] | None,
        fingerprint: str,
    ) -> web.Response:
        kind = injection.kind
        headers: dict[str, str] = {}
        if injection.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if injection.should_retry else "false"
        if kind == "rate_limit":
            error = {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
            }
            return _error(429, error, headers)
        if kind == "card_declined":
            return _error(402, decline(injection.decline_code, None))
        if kind == "invalid_request":
            return _error(400, invalid(f"Invalid {injection.param}", injection.param))
        if kind == "idempotency_conflict":
            return _error(409, idempotency_key_in_use(call.idempotency_key or ""), headers)
        if kind == "server_error":
            error = {"type": "api_error", "message": "An unknown error occurred"}
            if scope is not None and injection.should_retry is False:
                self._saved[scope] = _Saved(
                    fingerprint, injection.status, {"error": error}, headers
                )
            return _error(injection.status, error, headers)
        # "timeout": executed now, but finished (saved for the key, answered) only after delay_s;
        # until then the key is in flight and a retry with it gets 409, as on Stripe.
        problem = validate(call.params, self.customers)
        status, body = (400, {"error": problem}) if problem else self._create_intent(call.params)
        await self.wait_unless_closing(injection.delay_s)
        if scope is not None and problem is None:
            self._saved[scope] = _Saved(fingerprint, status, body)
        return web.json_response(body, status=status)

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body, intent = new_intent(params)
        self.intents[intent["id"]] = intent
        return status, body


_PI = {"amount": 1000, "currency": "usd"}

CONTRACT = ContractSubject(
    service="stripe",
    fake=FakeStripe,  # it accepts sk_test_fake_key_for_tests
    credentials={"api_key": "sk_test_fake_key_for_tests"},
    configs={"stripe_create_payment_intent": _PI},
    invalid_configs={
        "stripe_create_payment_intent": [
            ({"currency": "usd"}, "amount"),
            ({**_PI, "amount": 0}, "$.amount"),
            ({**_PI, "amount": 10.5}, "$.amount"),
            ({**_PI, "currency": "dollars"}, "$.currency"),
            ({**_PI, "metadata": {"k": 1}}, "$.metadata.k"),
            ({**_PI, "metadata": {"a[b]": "x"}}, "$.metadata"),
            ({**_PI, "customer": "acct_1"}, "$.customer"),
            ({**_PI, "confirm": True}, "payment_method"),
            ({**_PI, "off_session": True, "payment_method": "pm_card_visa"}, "confirm"),
            ({**_PI, "receipt_email": "not-an-email"}, "$.receipt_email"),
            ({**_PI, "capture_method": "later"}, "$.capture_method"),
            (
                {
                    **_PI,
                    "automatic_payment_methods": True,
                    "allowed_payment_method_types": ["card"],
                },
                "$",
            ),
            ({**_PI, "colour": "red"}, "colour"),
        ],
    },
)
