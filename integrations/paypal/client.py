"""What PayPal actions share: the client-credentials token endpoint, the access token, the
``PayPal-Request-Id``, and how PayPal answers.

**Why httpx, not the official SDK.** ``paypal-server-sdk`` (2.x, APIMatic-generated) is
synchronous (its ``http_client_instance`` is a ``requests.Session``) and mints and caches its own
OAuth tokens per client object from the client id and secret; here the worker's refresher does that
once for every worker (:mod:`integrations.credentials.refresh`), and a blocking call would stall
every other bot on the loop. The older ``paypalrestsdk`` and ``paypal-checkout-serversdk`` are
deprecated. An order is one JSON POST over the service's shared ``httpx.AsyncClient``.

**Credentials** (strategy ``oauth``, client credentials): the bot stores its PayPal REST app's
``client_id`` and ``client_secret``; the refresher posts ``grant_type=client_credentials`` with
HTTP Basic ``client_id:client_secret`` to ``/v1/oauth2/token`` (:data:`PAYPAL_TOKEN`) and lays
the minted ``access_token`` (``expires_in`` about 32400 s, 9 h) over them. The action reads only
``access_token``; a bot that has none yet is an :class:`~integrations.errors.AuthError` naming it,
and the processor's one re-fetch after an auth failure asks the refresher to mint it. A wrong
client id or secret is the token endpoint's 401 ``{"error": "invalid_client",
"error_description": "Client Authentication failed"}``: terminal
(:attr:`~integrations.credentials.oauth.TokenEndpoint.reauthorise`), the owner must store working
app credentials.

**Idempotency.** Every create carries ``PayPal-Request-Id`` = the request's idempotency key
(:func:`integrations.context.provider_idempotency_key`; PayPal allows 1 to 108 characters, a
longer key is replaced by its SHA-256, 64 hex characters). PayPal keeps request ids 6 hours (72 on
request to the account manager): a retry within that window returns the first order, with HTTP 200
instead of 201, and creates nothing.

**Errors** are ``{"name", "message", "debug_id", "details": [{"field", "value", "location",
"issue", "description"}], "links"}``, except that an unrecognised access token may get the OAuth
shape ``{"error": "invalid_token", "error_description"}``. :mod:`integrations.provider` maps them
by status; :class:`PayPal` adds:

=================================  =========================  ===================================
PayPal answer                      our error (code)           why
=================================  =========================  ===================================
400 ``INVALID_REQUEST``            InvalidConfigError (400)   the body broke PayPal's schema; the
                                                              message names the detail's field
403 ``NOT_AUTHORIZED``             PermanentError (403)       the token is fine; the app or the
                                                              account may not do this
                                                              (``PERMISSION_DENIED``,
                                                              ``PAYEE_ACCOUNT_NOT_VERIFIED``): a
                                                              new token would not help
422 with an account issue          PermanentError (422)       ``PAYEE_ACCOUNT_RESTRICTED`` and the
(``PAYEE_*``, ``PAYER_ACCOUNT_*``)                            like: the account's state
422, any other issue               InvalidConfigError (422)   ``DECIMAL_PRECISION``,
                                                              ``CURRENCY_NOT_SUPPORTED``,
                                                              ``DUPLICATE_INVOICE_ID``...: the
                                                              config field is named
2xx without an order ``id``        TransientError (502)       not PayPal's answer (a proxy's)
=================================  =========================  ===================================

The seam's own rows do the rest: 401 (``AUTHENTICATION_FAILURE``, an expired token, or
``invalid_token``) is an AuthError, so the processor invalidates the cached token and the
refresher mints a new one; 429 ``RATE_LIMIT_REACHED`` is rate limited (PayPal documents no
``Retry-After``; one that is sent is honoured); 500/502/504 and timeouts are "maybe executed",
and re-running them is safe because the ``PayPal-Request-Id`` replays the first order.

Verified (search tool, December 2026, developer.paypal.com): the token URL, Basic auth and form
body (``/api/rest/authentication/``); the ``PayPal-Request-Id`` length and its 6 h / 72 h
retention and ``Prefer: return=minimal`` (``/api/orders/v2/orders-create``); 200 for a repeated
create and 201 for a new one (``/api/rest/responses/``); the 401 ``AUTHENTICATION_FAILURE`` and 422
``UNPROCESSABLE_ENTITY`` bodies (PayPal's OpenAPI error schemas); ``NOT_AUTHORIZED`` and the 422
issues (``/api/rest/troubleshooting/``, ``/api/errors/overview/``); the currencies and the three
without decimals (``/docs/api/reference/currency-codes/``); ``application_context`` deprecated in
favour of ``payment_source.paypal.experience_context``; no published rate limits (the rate-limiting
guidelines). From field reports, not an official page: ``invalid_client`` / "Client
Authentication failed" for bad app credentials (PayPal's own SDK issue tracker and SDK logs), and
the ``invalid_token`` body.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from integrations.base import Category, CredentialsStrategy
from integrations.bot_logger import BotLogger
from integrations.context import provider_idempotency_key
from integrations.credentials.fields import SecretField
from integrations.credentials.oauth import TokenEndpoint
from integrations.errors import IntegrationError, InvalidConfigError, PermanentError
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "ACCESS_TOKEN",
    "DEFAULT_BASE_URL",
    "MAX_REQUEST_ID_CHARS",
    "ORDERS_PATH",
    "PAYPAL",
    "PAYPAL_TOKEN",
    "SANDBOX_BASE_URL",
    "TOKEN_PATH",
    "PayPal",
    "PayPalIntegration",
    "config_field",
    "request_id",
]

PAYPAL = Service("paypal", Category.PAYMENTS, "#003087", strategy=CredentialsStrategy.OAUTH)

DEFAULT_BASE_URL = "https://api-m.paypal.com"
#: The sandbox: set ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__PAYPAL__BASE_URL`` to it, and
#: ``…__TOKEN_URL`` to it plus :data:`TOKEN_PATH` (sandbox apps get sandbox tokens only).
SANDBOX_BASE_URL = "https://api-m.sandbox.paypal.com"
TOKEN_PATH = "/v1/oauth2/token"  # noqa: S105 - a path, not a password
ORDERS_PATH = "/v2/checkout/orders"
MAX_REQUEST_ID_CHARS = 108

PAYPAL_TOKEN = TokenEndpoint(
    url=DEFAULT_BASE_URL + TOKEN_PATH,
    grant="client_credentials",
    client_auth="basic",
    # Wrong or deleted app credentials: minting again cannot help until the owner fixes them.
    reauthorise=("invalid_client",),
)
"""PayPal's token endpoint: a form POST with HTTP Basic ``client_id:client_secret``; no refresh
token (each renewal is a new mint)."""

ACCESS_TOKEN = SecretField(
    provider="paypal", fields=("access_token",), strategy="oauth",
    example='{"client_id": "<REST app client id>", "client_secret": "<its secret>"} (the '
    "worker's OAuth refresher mints 'access_token' from them)",
)  # fmt: skip
"""The access token the refresher minted, in the bot's ``paypal`` credentials (``oauth``)."""

# Issues about the account rather than the request (422 and 403 bodies).
_ACCOUNT_ISSUE = re.compile(r"^(PAYEE_|PAYER_ACCOUNT_|PAYER_CANNOT_PAY|PERMISSION_DENIED)")
# The body's JSON pointers, as the config names them (``/purchase_units/0/amount/value``, or
# PayPal's ``/purchase_units/@reference_id=='default'/amount/value``).
_CONFIG_FIELDS = (
    ("/amount/currency_code", "currency"),
    ("/amount/value", "amount"),
    ("/amount", "amount"),
    ("/experience_context/return_url", "return_url"),
    ("/experience_context/cancel_url", "cancel_url"),
    ("/experience_context/brand_name", "brand_name"),
    ("/experience_context/user_action", "user_action"),
    ("/experience_context/shipping_preference", "shipping_preference"),
    ("/invoice_id", "invoice_id"),
    ("/custom_id", "custom_id"),
    ("/reference_id", "reference_id"),
    ("/description", "description"),
    ("/intent", "intent"),
)


def config_field(pointer: str | None) -> str | None:
    """The config field a PayPal error ``field`` (a JSON pointer into our body) points at."""
    if not pointer:
        return None
    for suffix, name in _CONFIG_FIELDS:
        if pointer.endswith(suffix):
            return name
    return None


def request_id(logger: BotLogger | None = None) -> str:
    """The request's ``PayPal-Request-Id``, at most :data:`MAX_REQUEST_ID_CHARS` characters."""
    return provider_idempotency_key(
        max_chars=MAX_REQUEST_ID_CHARS, header="PayPal-Request-Id", logger=logger
    )


class PayPal(Provider):
    """PayPal's answers (see the module's table): an order object with 200/201, else an error."""

    name = "PayPal"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        order = isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]
        return not response.is_success or not order

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = data if isinstance(data, dict) else {}
        name, message = _text(body.get("name")), _text(body.get("message"))
        if name is None and _text(body.get("error")):  # the OAuth shape (invalid_token)
            name, message = _text(body.get("error")), _text(body.get("error_description"))
        params: dict[str, Any] = {"name": name} if name else {}
        if debug_id := _text(body.get("debug_id")) or response.headers.get("paypal-debug-id"):
            params["debug_id"] = debug_id  # PayPal's support asks for it
        details = body.get("details")
        first = details[0] if isinstance(details, list) and details else None
        if isinstance(first, dict):
            for key in ("issue", "field", "description"):
                if value := _text(first.get(key)):
                    params[key] = value
            if named := config_field(params.get("field")):
                params["config_field"] = named
        return ErrorDetail(code=name, message=message, parameters=params)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, params = response.status_code, dict(detail.parameters)
        if status not in (400, 403, 422):
            return None
        issue = params.get("issue")
        text = _explained(status, detail)
        if status == 403 or (status == 422 and issue and _ACCOUNT_ISSUE.match(issue)):
            return PermanentError(
                call.message(
                    f"{text}; the PayPal account or REST app may not do this: fix it in PayPal "
                    "(account settings, or the app's features in the developer dashboard)"
                ),
                code=status,
                parameters=params,
            )
        if status == 400 and detail.code != "INVALID_REQUEST":
            return None  # not PayPal's validation answer: the seam's 4xx row (permanent)
        return InvalidConfigError(
            call.message(f"{text}; fix the action's config"), code=status, parameters=params
        )


class PayPalIntegration(KeyedHttpIntegration):
    """Base of the PayPal actions: the shared client, the bot's access token, one JSON POST."""

    service: ClassVar[str] = "paypal"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = PayPal()
    secret = ACCESS_TOKEN
    http_timeout_s: ClassVar[float] = 30.0

    async def post(
        self, path: str, body: dict[str, Any], token: str, key: str, logger: BotLogger
    ) -> dict[str, Any]:
        """POST ``body`` with the bearer ``token`` and ``PayPal-Request-Id: key``; the order."""
        headers = {
            "Authorization": f"Bearer {token}",
            "PayPal-Request-Id": key,
            "Prefer": "return=minimal",  # id, status and links: all the result needs
        }
        reply = await self.call(
            "POST", path.lstrip("/"), json=body, headers=headers, secrets=[token],
            what=f"POST {path}", logger=logger,
        )  # fmt: skip
        return reply.body


def _explained(status: int, detail: ErrorDetail) -> str:
    """``HTTP <status> <name>: <message>``, then the first detail: its issue, where, and why."""
    params = detail.parameters
    head = f"HTTP {status}" + (f" {detail.code}" if detail.code else "")
    text = f"{head}: {detail.message or 'no message'}"
    if issue := params.get("issue"):
        where = params.get("field")
        named = params.get("config_field")
        text += f"; {issue}"
        if where:
            text += f" at {where}" + (f" (config {named!r})" if named else "")
        if why := params.get("description"):
            text += f": {why}"
    return text


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
