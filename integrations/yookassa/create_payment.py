"""``yookassa_create_payment``: create a YooKassa payment and hand back where to pay it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError
from integrations.outcome import ok
from integrations.yookassa.client import (
    YOOKASSA,
    YooKassaCredentials,
    YooKassaIntegration,
    idempotence_key,
)

CONFIRMATION_TYPES = ("redirect", "embedded", "qr", "external")

# A redirect (the default confirmation) needs somewhere to send the payer back to.
_REDIRECT_NEEDS_RETURN_URL: dict[str, Any] = {
    "if": {
        "not": {
            "anyOf": [
                {"required": ["payment_method_id"]},
                {
                    "properties": {"confirmation_type": {"not": {"const": "redirect"}}},
                    "required": ["confirmation_type"],
                },
            ]
        }
    },
    "then": {"required": ["return_url"]},
}
# An autopayment charges a saved method: there is nothing to choose or confirm.
_AUTOPAYMENT_HAS_NO_CONFIRMATION: dict[str, Any] = {
    "if": {"required": ["payment_method_id"]},
    "then": {
        "not": {
            "anyOf": [{"required": ["payment_method_type"]}, {"required": ["confirmation_type"]}]
        }
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {
            "description": "Amount in major units as a decimal string, e.g. '100.00' or '99.9'",
            "type": "string",
            "pattern": r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$",
        },
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "RUB"},
        "description": {"type": "string", "minLength": 1, "maxLength": 128},
        "capture": {
            "description": "false: two-stage payment, held until captured",
            "type": "boolean",
            "default": True,
        },
        "confirmation_type": {"enum": list(CONFIRMATION_TYPES), "default": "redirect"},
        "return_url": {"type": "string", "format": "uri", "maxLength": 2048},
        "payment_method_type": {
            "description": "Preselect a method, e.g. bank_card, sbp, yoo_money",
            "type": "string",
            "pattern": "^[a-z_]{2,40}$",
        },
        "payment_method_id": {
            "description": "A saved payment method (autopayment): no confirmation step",
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
        },
        "save_payment_method": {"type": "boolean"},
        "metadata": {
            "type": "object",
            "maxProperties": 16,
            "propertyNames": {"maxLength": 32},
            "additionalProperties": {"type": "string", "maxLength": 512},
        },
        "receipt": {
            "description": "54-FZ receipt, passed to YooKassa as is",
            "type": "object",
        },
    },
    "required": ["amount"],
    "additionalProperties": False,
    "allOf": [_REDIRECT_NEEDS_RETURN_URL, _AUTOPAYMENT_HAS_NO_CONFIRMATION],
}

METADATA = YOOKASSA.action(
    "create_payment",
    name="YooKassa Create Payment",
    description="Create a YooKassa (ЮKassa) payment and return its confirmation URL or token.",
    config_schema=CONFIG_SCHEMA,
    # YooKassa dedupes by Idempotence-Key (24 h): a repeat returns the original payment.
    side_effect=SideEffect.IDEMPOTENT,
    supports_idempotency_key=True,
    idempotency_window_s=24 * 3600,  # the provider keeps an idempotency key 24 h
    # Above the HTTP timeout (35 s), itself above YooKassa's own 30 s before it answers 500.
    timeout_s=40.0,
    # 202s count as rate limits, not attempts; this bounds 5xx / timeouts only.
    max_attempts=6,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,  # safe: the same key dedupes
    # YooKassa publishes no numeric limit; its 429 (retry_after when given) throttles us.
    rate_limits=(),
)


def payment_body(config: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /payments`` JSON body for an already schema-valid ``config``."""
    amount = Decimal(config["amount"])
    if amount <= 0:
        raise InvalidConfigError(
            f"$.amount: {config['amount']!r} must be greater than zero, e.g. '100.00'",
            errors=[f"$.amount: {config['amount']!r} must be greater than zero"],
        )
    body: dict[str, Any] = {
        # YooKassa wants a string with exactly two decimals.
        "amount": {"value": f"{amount:.2f}", "currency": config.get("currency", "RUB")},
        "capture": config.get("capture", True),
    }
    if "payment_method_id" in config:
        body["payment_method_id"] = config["payment_method_id"]
    else:
        kind = config.get("confirmation_type", "redirect")
        confirmation: dict[str, Any] = {"type": kind}
        if "return_url" in config:  # required by the schema for a redirect
            confirmation["return_url"] = config["return_url"]
        body["confirmation"] = confirmation
    if "payment_method_type" in config:
        body["payment_method_data"] = {"type": config["payment_method_type"]}
    for name in ("description", "metadata", "receipt", "save_payment_method"):
        if name in config:
            body[name] = config[name]
    return body


_CONFIRMATION_FIELDS = ("type", "confirmation_url", "confirmation_token", "confirmation_data")
_RESULT_FIELDS = (
    "id",
    "status",
    "paid",
    "amount",
    "description",
    "metadata",
    "created_at",
    "expires_at",
    "test",
    "cancellation_details",
)


def payment_result(payment: dict[str, Any]) -> dict[str, Any]:
    """The compact result: the payment's state and how the payer confirms it."""
    result = {name: payment[name] for name in _RESULT_FIELDS if name in payment}
    confirmation = payment.get("confirmation")
    if isinstance(confirmation, dict):
        result["confirmation"] = {
            k: confirmation[k] for k in _CONFIRMATION_FIELDS if k in confirmation
        }
    method = payment.get("payment_method")
    if isinstance(method, dict):
        result["payment_method"] = {k: method[k] for k in ("type", "id", "saved") if k in method}
    return result


class YooKassaCreatePaymentIntegration(YooKassaIntegration):
    """Create a payment with ``POST /v3/payments`` (httpx, HTTP Basic ``shopId:secretKey``).

    Config: ``amount`` as a decimal string in major units ("100.00"), ``currency`` (RUB),
    ``description`` (≤128), ``capture`` (false = two-stage), ``confirmation_type`` (redirect,
    the default, needs ``return_url``; or embedded / qr / external), ``payment_method_type``,
    ``payment_method_id`` (autopayment with a saved method), ``save_payment_method``,
    ``metadata`` (≤16 string pairs) and a 54-FZ ``receipt``. Credentials:
    ``{"shop_id": ..., "secret_key": ...}``. The request's idempotency key goes out as
    ``Idempotence-Key``, so retries never create a second payment. Returns the payment's
    ``id``, ``status``, ``paid``, ``amount`` and ``confirmation`` (``confirmation_url`` for a
    redirect).
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], creds: YooKassaCredentials, logger: BotLogger
    ) -> dict[str, Any]:
        body = payment_body(config)
        payment = await self.post("payments", body, creds, idempotence_key(logger), logger)
        result = payment_result(payment)
        logger.info(
            "yookassa payment created", payment_id=result.get("id"), status=result.get("status")
        )
        return ok(result)
