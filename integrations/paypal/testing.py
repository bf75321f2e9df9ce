"""A fake PayPal (its OAuth token endpoint and Orders v2 create): real HTTP on loopback.

    async with FakePayPal(token_lifetime_s=60, clock=clock) as fake:   # 127.0.0.1:<free port>
        settings = EndpointSettings(base_url=fake.base_url, token_url=fake.token_url)
        fake.grant("app-2", "secret-2", access_token="A21AA-two", expires_in=30)
        fake.mints                          # tokens minted by POST /v1/oauth2/token
        fake.orders                         # created orders, by id (one per PayPal-Request-Id)
        fake.revoke("app-2")                # its secret is gone: mints get invalid_client
        fake.inject("unprocessable", issue="PAYEE_ACCOUNT_RESTRICTED")
        fake.fail_next(429)                 # PayPal's RATE_LIMIT_REACHED body

What it reproduces (see ``integrations/paypal/client.py`` for the sources):

- ``POST /v1/oauth2/token`` (:data:`TOKEN_PATH`), answered by ``fake.grants`` (the shared
  :class:`~integrations.credentials.testing.TokenGrants`): HTTP Basic ``client_id:client_secret``
  of a known app (:meth:`FakePayPal.grant`) and form ``grant_type=client_credentials`` get
  ``{"scope", "access_token", "token_type": "Bearer", "app_id", "expires_in", "nonce"}``
  (``expires_in`` = ``token_lifetime_s``; PayPal's is 32400). Unknown app credentials: 401
  ``{"error": "invalid_client", "error_description": "Client Authentication failed"}``; no
  grant type: 400 ``unsupported_grant_type`` "Grant Type is NULL". Every mint counts in ``mints``
  (``refreshes`` is the same counter: client credentials have no refresh token).
- ``POST /v2/checkout/orders``: only with ``Authorization: Bearer`` of a live token (expired or
  missing: 401 ``AUTHENTICATION_FAILURE``; never issued: 401 ``invalid_token``). A
  ``PayPal-Request-Id`` (1-108 characters) seen before answers the first order with HTTP 200 and
  creates nothing (one merchant per fake: ids are not kept per app); a new one creates the order
  (201, ``Prefer: return=minimal``: ``id``, ``status``, ``links``). Without ``payment_source`` the
  order is ``CREATED`` with an ``approve`` link; with ``payment_source.paypal.experience_context``
  it is ``PAYER_ACTION_REQUIRED`` with a ``payer-action`` link. The body is checked as PayPal
  does: ``intent``, 1-10 purchase units, the value's syntax (400 ``INVALID_REQUEST``), the
  currency, decimals per currency, a positive value and a reused ``invoice_id`` (422
  ``UNPROCESSABLE_ENTITY``), each with the issue and the field's JSON pointer.
- ``GET /v2/checkout/orders/{id}``: the stored order.

Errors are PayPal's ``{"name", "message", "debug_id", "details", "links"}``, also for a bare
``fail_next(status)`` (:meth:`FakePayPal.error_response`); PayPal's own faults are
:data:`FaultKind`; stalls and cut connections come from :class:`~integrations.testing.FakeServer`
and hit the token endpoint too.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web

from integrations.credentials.testing import TokenGrants, basic_auth
from integrations.errors import OutcomeCategory
from integrations.paypal.client import MAX_REQUEST_ID_CHARS, ORDERS_PATH, TOKEN_PATH
from integrations.paypal.create_order import CURRENCIES, NO_DECIMALS
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CONTRACT",
    "STATIC_TOKEN",
    "FakePayPal",
    "FaultKind",
    "Injection",
    "RecordedCall",
]

CLIENT_ID = "AfakeClientIdForTests0000000000000000000000000000000000000000000000000000000000"
CLIENT_SECRET = "EfakeClientSecretForTests000000000000000000000000000000000000000000000000000"  # noqa: S105
STATIC_TOKEN = "A21AAfakeStaticContractToken0000000000000000000000000000"  # noqa: S105

FaultKind = Literal[
    "invalid_request",  # 400 INVALID_REQUEST with `issue` at `field`
    "not_authorized",  # 403 NOT_AUTHORIZED (PERMISSION_DENIED by default)
    "unprocessable",  # 422 UNPROCESSABLE_ENTITY with `issue` at `field`
    "rate_limited",  # 429 RATE_LIMIT_REACHED (Retry-After only with retry_after_s)
    "server_error",  # 500: with deliver=True the order IS created and the request id kept
    "timeout",  # create (deliver), then answer only after delay_s
]

_NAMES = {
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates "
          "schema."),
    401: ("AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication "
          "credentials or a missing Authorization header."),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The server does not support the request payload's media "
          "type."),
    422: ("UNPROCESSABLE_ENTITY", "The requested action could not be performed, semantically "
          "incorrect, or failed business validation."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error has occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}  # fmt: skip
_VALUE = re.compile(r"^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$")  # PayPal's own value pattern
_APP_ID = "APP-80W284485P519543T"
_SCOPE = "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/orders"


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake's handlers received (token mints included)."""

    method: str
    path: str
    body: Any

    @property
    def request_id(self) -> str | None:
        return self.headers.get("PayPal-Request-Id")

    @property
    def token(self) -> str | None:
        """The bearer token an API call came with."""
        header = self.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` order creates (``None``: all of them)."""

    issue: str | None
    field: str | None
    retry_after_s: float | None
    delay_s: float
    deliver: bool


def error_body(
    status: int, *, issue: str | None = None, field: str | None = None, description: str = ""
) -> dict[str, Any]:
    """PayPal's error object for ``status``, with one detail when ``issue`` is given."""
    name, message = _NAMES.get(status, (f"HTTP_{status}", "Error."))
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": secrets.token_hex(6)}
    if issue is not None:
        detail: dict[str, Any] = {"issue": issue, "description": description or issue}
        if field is not None:
            detail.update(field=field, location="body")
        body["details"] = [detail]
    body["links"] = [
        {
            "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue or name}",
            "rel": "information_link",
            "method": "GET",
        }
    ]
    return body


def _error(status: int, **detail: Any) -> web.Response:
    return web.json_response(error_body(status, **detail), status=status)


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


class FakePayPal(FakeServer[RecordedCall, Injection]):
    """A fake PayPal on ``host:port`` (0: a free port), started by ``async with``.

    ``grants`` is its token endpoint's state (:class:`~integrations.credentials.testing.
    TokenGrants`): one app (``client_id`` / ``client_secret``) is known from the start.
    ``tokens`` are static access tokens valid forever (:data:`STATIC_TOKEN`, the CONTRACT
    bot's). ``clock`` is "now" for token expiry (tests move it).
    """

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_lifetime_s: float = 32400,  # PayPal's: 9 h
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.grants = TokenGrants(lifetime_s=token_lifetime_s, clock=clock)
        self.grants.grant(client_id, client_secret)
        self.tokens: set[str] = {STATIC_TOKEN}
        #: Every access token minted, in order (for secret scans: none may leak).
        self.minted: list[str] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self._by_request_id: dict[str, str] = {}

    @property
    def mints(self) -> int:
        """Access tokens minted by ``POST /v1/oauth2/token`` so far."""
        return self.grants.mints

    @property
    def refreshes(self) -> int:
        """The same count as :attr:`mints`: a client-credentials renewal is a new mint."""
        return self.grants.mints

    @property
    def token_url(self) -> str:
        """What ``EndpointSettings(token_url=...)`` takes to send the refresher here."""
        return self.url + TOKEN_PATH

    def routes(self, app: web.Application) -> None:
        app.router.add_post(TOKEN_PATH, self._token)
        app.router.add_post(ORDERS_PATH, self._create)
        app.router.add_get(ORDERS_PATH + "/{order_id}", self._get)

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """PayPal's error object for ``status`` (its own message), ``Retry-After`` if given."""
        return web.json_response(
            error_body(status), status=status, headers=self.retry_after(retry_after_s)
        )

    # -- control ---------------------------------------------------------------------------------

    def grant(
        self,
        client_id: str,
        client_secret: str,
        *,
        access_token: str | None = None,
        expires_in: float | None = None,
    ) -> None:
        """Know the REST app ``client_id`` with ``client_secret``; with ``access_token``, also a
        live token, dying in ``expires_in`` seconds (default ``token_lifetime_s``)."""
        self.grants.grant(
            client_id, client_secret, access_token=access_token, expires_in=expires_in
        )

    def revoke(self, client_id: str | None = None) -> None:
        """Forget the app (every app: ``None``), as deleting it or rotating its secret does:
        every later mint gets 401 ``invalid_client``; tokens already issued live on until they
        expire."""
        self.grants.grants[:] = [
            g for g in self.grants.grants if client_id is not None and g.client_id != client_id
        ]

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        issue: str | None = None,
        field: str | None = None,
        retry_after_s: float | None = None,
        delay_s: float = 30.0,
        deliver: bool = True,
    ) -> Injection:
        """Make the next ``times`` order creates fail with ``kind`` (after the request-id
        replay: PayPal answers a known id first); ``issue`` and ``field`` go in the detail;
        "server_error" and "timeout" create the order first when ``deliver``."""
        return self.queue(
            Injection(
                kind=kind, remaining=times, issue=issue, field=field,
                retry_after_s=retry_after_s, delay_s=delay_s, deliver=deliver,
            )
        )  # fmt: skip

    def clear(self) -> None:
        """Forget calls, orders, request ids and injections (apps and tokens stay)."""
        super().clear()
        self.orders.clear()
        self._by_request_id.clear()

    def creates(self) -> list[RecordedCall]:
        """The order creates received, in order."""
        return [c for c in self.calls if c.method == "POST" and c.path == ORDERS_PATH]

    # -- the token endpoint ----------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any) -> RecordedCall:
        call = RecordedCall(
            method=request.method, path=request.path, headers=dict(request.headers), body=body
        )
        self.calls.append(call)
        return call

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        call = self._record(request, form)
        status, body = self.grants.answer(form, basic=basic_auth(request))
        # PayPal's own wording and fields on top of RFC 6749's.
        if body.get("error") == "invalid_client":
            body["error_description"] = "Client Authentication failed"
        elif body.get("error") == "unsupported_grant_type" and not form.get("grant_type"):
            body["error_description"] = "Grant Type is NULL"
        elif status == 200:
            self.minted.append(body["access_token"])
            body.update(
                scope=_SCOPE, token_type="Bearer", app_id=_APP_ID,  # noqa: S106
                nonce=f"{time.strftime('%Y-%m-%dT%H:%M:%SZ')}{secrets.token_hex(8)}",
            )  # fmt: skip
        call.status = status
        return web.json_response(body, status=status)

    # -- orders ----------------------------------------------------------------------------------

    def _refused(self, call: RecordedCall) -> web.Response | None:
        """PayPal's 401 unless the call carries a live bearer token."""
        token = call.token
        if token in self.tokens or self.grants.valid(token):
            return None
        if token is not None and not self.grants.issued(token):
            return _oauth_error(401, "invalid_token", "Token signature verification failed")
        return _error(401)  # AUTHENTICATION_FAILURE: missing or expired

    async def _get(self, request: web.Request) -> web.Response:
        call = self._record(request, None)
        order = self.orders.get(request.match_info["order_id"])
        response = self._refused(call)
        if response is None and order is None:
            response = _error(404, issue="INVALID_RESOURCE_ID", description="Order not found")
        call.status = (response or web.Response()).status
        return response or web.json_response(order)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        call = self._record(request, body)
        response = self._refused(call) or await self._answer(request, call)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request, call: RecordedCall) -> web.StreamResponse:
        if request.content_type != "application/json":
            return _error(415)
        key = call.request_id
        if key is not None and not 1 <= len(key) <= MAX_REQUEST_ID_CHARS:
            return _error(
                400, issue="INVALID_STRING_LENGTH", field="PayPal-Request-Id",
                description=f"The value of a field is either too short or too long "
                f"(1-{MAX_REQUEST_ID_CHARS}).",
            )  # fmt: skip
        known = self._by_request_id.get(key) if key else None
        if known is not None:  # PayPal: 200 with the order an earlier call created
            return web.json_response(_minimal(self.orders[known]), status=200)
        injection = self.take_injection()
        if injection is not None:
            return await self._fault(injection, call, key)
        status, answer = self._new_order(call.body, key)
        return web.json_response(answer, status=status)

    async def _fault(
        self, injection: Injection, call: RecordedCall, key: str | None
    ) -> web.Response:
        kind, detail = injection.kind, {"field": injection.field}
        if kind == "invalid_request":
            return _error(400, issue=injection.issue or "INVALID_PARAMETER_VALUE", **detail)
        if kind == "not_authorized":
            return _error(403, issue=injection.issue or "PERMISSION_DENIED", **detail)
        if kind == "unprocessable":
            return _error(422, issue=injection.issue or "PAYEE_ACCOUNT_RESTRICTED", **detail)
        if kind == "rate_limited":
            headers = self.retry_after(injection.retry_after_s)
            return web.json_response(error_body(429), status=429, headers=headers)
        if injection.deliver:  # "server_error" / "timeout": created, the answer lost
            self._new_order(call.body, key)
        if kind == "timeout":
            await self.wait_unless_closing(injection.delay_s)
        return _error(500)

    def _new_order(self, body: Any, key: str | None) -> tuple[int, dict[str, Any]]:
        refused = _refusal(body) if isinstance(body, dict) else (400, error_body(400))
        if refused is not None:
            return refused
        invoices = {u.get("invoice_id") for o in self.orders.values() for u in o["purchase_units"]}
        for index, unit in enumerate(body["purchase_units"]):
            if unit.get("invoice_id") is not None and unit["invoice_id"] in invoices:
                return 422, error_body(
                    422, issue="DUPLICATE_INVOICE_ID", field=f"/purchase_units/{index}/invoice_id",
                    description="Duplicate Invoice ID detected.",
                )  # fmt: skip
        order_id = secrets.token_hex(8).upper() + "0"
        experience = (body.get("payment_source") or {}).get("paypal", {}).get("experience_context")
        here = f"{_API}{ORDERS_PATH}/{order_id}"
        links = [{"href": here, "rel": "self", "method": "GET"}]
        if experience is not None:
            status = "PAYER_ACTION_REQUIRED"
            links.append(_checkout(order_id, "payer-action"))
        else:
            status = "CREATED"
            action = "capture" if body["intent"] == "CAPTURE" else "authorize"
            links += [
                _checkout(order_id, "approve"),
                {"href": here, "rel": "update", "method": "PATCH"},
                {"href": f"{here}/{action}", "rel": action, "method": "POST"},
            ]
        order: dict[str, Any] = {
            "id": order_id,
            "intent": body["intent"],
            "status": status,
            "purchase_units": body["purchase_units"],
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "links": links,
        }
        if body.get("payment_source") is not None:
            order["payment_source"] = body["payment_source"]
        self.orders[order_id] = order
        if key:
            self._by_request_id[key] = order_id
        return 201, _minimal(order)


_API = "https://api.sandbox.paypal.com"


def _checkout(order_id: str, rel: str) -> dict[str, str]:
    return {"href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}", "rel": rel,
            "method": "GET"}  # fmt: skip


def _minimal(order: dict[str, Any]) -> dict[str, Any]:
    """``Prefer: return=minimal``: the id, the status and the links."""
    return {"id": order["id"], "status": order["status"], "links": order["links"]}


def _refusal(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """PayPal's checks of a create body: (status, error body), or ``None`` when it is fine."""

    def invalid(issue: str, field: str, description: str) -> tuple[int, dict[str, Any]]:
        return 400, error_body(400, issue=issue, field=field, description=description)

    def unprocessable(issue: str, field: str, description: str) -> tuple[int, dict[str, Any]]:
        return 422, error_body(422, issue=issue, field=field, description=description)

    if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
        return invalid("INVALID_PARAMETER_VALUE", "/intent", "The value of a field is invalid.")
    units = body.get("purchase_units")
    if not isinstance(units, list) or not 1 <= len(units) <= 10:
        return invalid("MISSING_REQUIRED_PARAMETER", "/purchase_units",
                       "A required field / parameter is missing.")  # fmt: skip
    for index, unit in enumerate(units):
        where = f"/purchase_units/{index}"
        amount = unit.get("amount") if isinstance(unit, dict) else None
        if not isinstance(amount, dict):
            return invalid("MISSING_REQUIRED_PARAMETER", f"{where}/amount",
                           "A required field / parameter is missing.")  # fmt: skip
        currency, value = amount.get("currency_code"), amount.get("value")
        if not isinstance(value, str) or not _VALUE.match(value) or len(value) > 32:
            return invalid("INVALID_PARAMETER_SYNTAX", f"{where}/amount/value",
                           "The value of a field does not conform to the expected "
                           "format.")  # fmt: skip
        if currency not in CURRENCIES:
            return unprocessable("CURRENCY_NOT_SUPPORTED", f"{where}/amount/currency_code",
                                 "Currency code is not currently supported.")  # fmt: skip
        decimals = len(value.partition(".")[2])
        if currency in NO_DECIMALS and decimals:
            return unprocessable("DECIMALS_NOT_SUPPORTED", f"{where}/amount/value",
                                 "Currency does not support decimals.")  # fmt: skip
        if decimals > 2:
            return unprocessable("DECIMAL_PRECISION", f"{where}/amount/value",
                                 "If the currency supports decimals, only two decimal place "
                                 "precision is supported.")  # fmt: skip
        if Decimal(value) <= 0:
            return unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", f"{where}/amount/value",
                                 "Must be greater than zero.")  # fmt: skip
        description = unit.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 127):
            return invalid("INVALID_STRING_LENGTH", f"{where}/description",
                           "The value of a field is either too short or too long.")  # fmt: skip
    return None


_ORDER = {"amount": "10.00", "currency": "USD"}

CONTRACT = ContractSubject(
    service="paypal",
    fake=FakePayPal,  # it accepts STATIC_TOKEN for ever
    credentials={"access_token": STATIC_TOKEN},
    configs={"paypal_create_order": _ORDER},
    # PayPal's 403 NOT_AUTHORIZED: the token is fine, the app or account may not do this.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "paypal_create_order": [
            ({"currency": "USD"}, "amount"),
            ({"amount": "10.00"}, "currency"),
            ({**_ORDER, "amount": "10.001"}, "$.amount"),
            ({**_ORDER, "amount": 10}, "$.amount"),
            ({**_ORDER, "amount": "-5"}, "$.amount"),
            ({**_ORDER, "amount": "12345678901"}, "$.amount"),
            ({"amount": "1500.5", "currency": "JPY"}, "$.amount"),
            ({**_ORDER, "currency": "usd"}, "$.currency"),
            ({**_ORDER, "currency": "XYZ"}, "$.currency"),
            ({**_ORDER, "intent": "SALE"}, "$.intent"),
            ({**_ORDER, "description": "x" * 128}, "$.description"),
            ({**_ORDER, "invoice_id": "a\nb"}, "$.invoice_id"),
            (
                {
                    **_ORDER,
                    "return_url": "http://shop.example/ok",
                    "cancel_url": "https://s.example",
                },
                "$.return_url",
            ),
            ({**_ORDER, "return_url": "https://shop.example/ok"}, "cancel_url"),
            ({**_ORDER, "user_action": "LATER"}, "$.user_action"),
            ({**_ORDER, "colour": "red"}, "colour"),
        ],
    },
)
