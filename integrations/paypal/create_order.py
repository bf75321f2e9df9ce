"""``paypal_create_order``: create a PayPal checkout order (Orders v2) and hand back where the
payer approves it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError
from integrations.outcome import ok
from integrations.paypal.client import ORDERS_PATH, PAYPAL, PayPalIntegration, request_id

#: PayPal's REST currencies (developer.paypal.com, "Currency codes").
CURRENCIES = (
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "RUB", "SGD", "SEK", "CHF", "THB", "USD",
)  # fmt: skip
#: "This currency does not support decimals. If you pass a decimal amount, an error occurs."
NO_DECIMALS = ("HUF", "JPY", "TWD")
#: Every other one takes at most two decimal places (PayPal's DECIMAL_PRECISION issue).
_AMOUNT = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
_WHOLE_AMOUNT = r"^[1-9][0-9]{0,9}$"
_HTTPS_URL = {
    "type": "string",
    "format": "uri",
    "pattern": r"^https://[^\s]+$",
    "maxLength": 2048,
}
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

_WHOLE_UNITS_FOR_ZERO_DECIMAL_CURRENCIES: dict[str, Any] = {
    "if": {"properties": {"currency": {"enum": list(NO_DECIMALS)}}, "required": ["currency"]},
    "then": {"properties": {"amount": {"pattern": _WHOLE_AMOUNT}}},
}
_EXPERIENCE = ("return_url", "cancel_url", "brand_name", "user_action", "shipping_preference")

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {
            "description": "Amount in major units as a decimal string: '10.00' or '9.5' (at "
            "most 2 decimals); whole units for HUF, JPY and TWD ('1500')",
            "type": "string",
            "pattern": _AMOUNT,
        },
        "currency": {
            "description": "ISO 4217 code PayPal accepts, e.g. USD",
            "enum": list(CURRENCIES),
        },
        "intent": {
            "description": "CAPTURE: take the payment once approved; AUTHORIZE: hold it first",
            "enum": ["CAPTURE", "AUTHORIZE"],
            "default": "CAPTURE",
        },
        "description": {
            "description": "What the payer buys, shown to them",
            "type": "string", "minLength": 1, "maxLength": 127, "pattern": _PRINTABLE,
        },
        "reference_id": {
            "description": "Your id of this purchase unit",
            "type": "string", "minLength": 1, "maxLength": 256, "pattern": _PRINTABLE,
        },
        "invoice_id": {
            "description": "Your invoice number; PayPal refuses one used by an earlier order",
            "type": "string", "minLength": 1, "maxLength": 127, "pattern": _PRINTABLE,
        },
        "custom_id": {
            "description": "Your own value, echoed in PayPal's reports and webhooks",
            "type": "string", "minLength": 1, "maxLength": 255, "pattern": _PRINTABLE,
        },
        "return_url": {**_HTTPS_URL, "description": "https URL the payer comes back to, approved"},
        "cancel_url": {**_HTTPS_URL, "description": "https URL the payer comes back to, cancelled"},
        "brand_name": {
            "description": "Name shown on PayPal's pages instead of the account's business name",
            "type": "string", "minLength": 1, "maxLength": 127, "pattern": _PRINTABLE,
        },
        "user_action": {
            "description": "PAY_NOW: the payer pays on PayPal; CONTINUE: they confirm on your side",
            "enum": ["PAY_NOW", "CONTINUE"],
        },
        "shipping_preference": {
            "description": "GET_FROM_FILE: the payer's PayPal address; NO_SHIPPING: none asked",
            "enum": ["GET_FROM_FILE", "NO_SHIPPING"],
        },
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
    # The payer must be sent back somewhere either way: both URLs, or neither.
    "dependentRequired": {"return_url": ["cancel_url"], "cancel_url": ["return_url"]},
    "allOf": [_WHOLE_UNITS_FOR_ZERO_DECIMAL_CURRENCIES],
}  # fmt: skip

METADATA = PAYPAL.action(
    "create_order",
    name="PayPal Create Order",
    description="Create a PayPal checkout order and return its id, status and approval link.",
    config_schema=CONFIG_SCHEMA,
    # PayPal-Request-Id = our idempotency key: a repeat within 6 h returns the first order.
    side_effect=SideEffect.IDEMPOTENT,
    supports_idempotency_key=True,
    idempotency_window_s=6 * 3600,  # PayPal keeps request ids 6 h (72 h only on request)
    timeout_s=40.0,  # above the HTTP timeout (30 s)
    max_attempts=5,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,  # safe: the request id replays the order
    # PayPal publishes no numbers ("we do not publish a rate limit"); its 429 throttles us.
    rate_limits=(),
)


def order_body(config: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v2/checkout/orders`` body for an already schema-valid ``config``."""
    currency = config["currency"]
    amount = Decimal(config["amount"])
    if amount <= 0:
        raise InvalidConfigError(
            f"$.amount: {config['amount']!r} must be greater than zero, e.g. '10.00'",
            errors=[f"$.amount: {config['amount']!r} must be greater than zero"],
        )
    # PayPal's value string: whole units where the currency has no decimals, else two places.
    value = str(int(amount)) if currency in NO_DECIMALS else f"{amount:.2f}"
    unit: dict[str, Any] = {"amount": {"currency_code": currency, "value": value}}
    for name in ("reference_id", "description", "invoice_id", "custom_id"):
        if name in config:
            unit[name] = config[name]
    body: dict[str, Any] = {"intent": config.get("intent", "CAPTURE"), "purchase_units": [unit]}
    experience = {name: config[name] for name in _EXPERIENCE if name in config}
    if experience:
        # Not the deprecated application_context: PayPal moved these fields here.
        body["payment_source"] = {"paypal": {"experience_context": experience}}
    return body


def order_result(order: dict[str, Any]) -> dict[str, Any]:
    """The order's id and status, and the link the payer approves it at (``None`` if absent)."""
    links = order.get("links")
    approve = None
    for link in links if isinstance(links, list) else ():
        # "approve" without a payment source, "payer-action" with one (experience_context).
        if isinstance(link, dict) and link.get("rel") in ("approve", "payer-action"):
            approve = link.get("href") if isinstance(link.get("href"), str) else None
            break
    return {"id": order["id"], "status": order.get("status"), "approve_url": approve}


class PayPalCreateOrderIntegration(PayPalIntegration):
    """Create an order with ``POST /v2/checkout/orders`` (httpx, ``Authorization: Bearer``).

    Config: ``amount`` (a decimal string in major units), ``currency``, ``intent`` (CAPTURE or
    AUTHORIZE), the purchase unit's ``description``, ``reference_id``, ``invoice_id`` and
    ``custom_id``, and the payer's experience: ``return_url`` with ``cancel_url`` (https),
    ``brand_name``, ``user_action``, ``shipping_preference``. Credentials: the ``access_token``
    the refresher minted from the bot's ``client_id`` and ``client_secret``. The request's
    idempotency key goes out as ``PayPal-Request-Id``, so retries never create a second order.
    Returns ``id``, ``status`` (CREATED, or PAYER_ACTION_REQUIRED when an experience is given)
    and ``approve_url``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        body = order_body(config)
        order = await self.post(ORDERS_PATH, body, token, request_id(logger), logger)
        result = order_result(order)
        logger.info("paypal order created", order_id=result["id"], status=result["status"])
        return ok(result)
