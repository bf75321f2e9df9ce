"""``stripe_create_payment_intent``: create (and optionally confirm) a Stripe PaymentIntent."""

from __future__ import annotations

from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import IntegrationError
from integrations.outcome import ok
from integrations.stripe.client import STRIPE, StripeIntegration, idempotency_key

# Off-session and confirm-time details need a payment method; off_session needs confirm.
_CONFIRM_NEEDS_METHOD: dict[str, Any] = {
    "if": {"properties": {"confirm": {"const": True}}, "required": ["confirm"]},
    "then": {"required": ["payment_method"]},
}
_OFF_SESSION_NEEDS_CONFIRM: dict[str, Any] = {
    "if": {"properties": {"off_session": {"const": True}}, "required": ["off_session"]},
    "then": {"properties": {"confirm": {"const": True}}, "required": ["confirm"]},
}
_ONE_WAY_TO_CHOOSE_METHODS: dict[str, Any] = {
    "not": {"required": ["automatic_payment_methods", "allowed_payment_method_types"]}
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {
            "description": "Amount in the currency's minor units (cents): 1000 = 10.00 USD",
            "type": "integer",
            "minimum": 1,
            "maximum": 99_999_999,
        },
        "currency": {
            "description": "ISO 4217 code, e.g. usd",
            "type": "string",
            "pattern": "^[A-Za-z]{3}$",
        },
        "description": {"type": "string", "minLength": 1, "maxLength": 1000},
        "metadata": {
            "description": "Up to 50 keys (≤40 chars) with string values (≤500 chars)",
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"minLength": 1, "maxLength": 40, "pattern": r"^[^\[\]]+$"},
            "additionalProperties": {"type": "string", "maxLength": 500},
        },
        "customer": {"type": "string", "pattern": "^cus_[A-Za-z0-9]+$"},
        "payment_method": {"type": "string", "pattern": "^(pm|card|src|ba)_[A-Za-z0-9_]+$"},
        "confirm": {"type": "boolean", "default": False},
        "off_session": {"type": "boolean"},
        "return_url": {"type": "string", "format": "uri", "maxLength": 2048},
        "capture_method": {"enum": ["automatic", "automatic_async", "manual"]},
        "receipt_email": {"type": "string", "format": "email", "maxLength": 512},
        "statement_descriptor_suffix": {"type": "string", "minLength": 1, "maxLength": 22},
        "automatic_payment_methods": {
            "description": "Let Stripe offer the methods enabled in the Dashboard (default true)",
            "type": "boolean",
        },
        "allowed_payment_method_types": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": "^[a-z_]{2,40}$"},
        },
        "return_client_secret": {
            "description": "Put the client_secret (for Stripe.js confirmation) in the result",
            "type": "boolean",
            "default": False,
        },
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
    "allOf": [_CONFIRM_NEEDS_METHOD, _OFF_SESSION_NEEDS_CONFIRM, _ONE_WAY_TO_CHOOSE_METHODS],
}

METADATA = STRIPE.action(
    "create_payment_intent",
    name="Stripe Create PaymentIntent",
    description="Create a Stripe PaymentIntent (amount in minor units), optionally confirming it.",
    config_schema=CONFIG_SCHEMA,
    # Stripe replays the first answer for the same Idempotency-Key (≥24 h): no double charge.
    side_effect=SideEffect.IDEMPOTENT,
    supports_idempotency_key=True,
    idempotency_window_s=24 * 3600,  # the provider keeps an idempotency key 24 h
    timeout_s=40.0,  # above the shared client's 30 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,  # safe: the same key replays
    # Stripe: 25 req/s per endpoint by default (and 25 ops/s in sandbox, 100 live, globally).
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=25, period_s=1.0),),
)


def intent_params(config: dict[str, Any]) -> PaymentIntentCreateParams:
    """The create parameters for an already schema-valid ``config``."""
    params: PaymentIntentCreateParams = {
        "amount": config["amount"],
        "currency": config["currency"].lower(),
    }
    if "allowed_payment_method_types" in config:
        params["allowed_payment_method_types"] = list(config["allowed_payment_method_types"])
    elif config.get("automatic_payment_methods", True):
        params["automatic_payment_methods"] = {"enabled": True}
        if config.get("confirm") and "return_url" not in config:
            # Confirming now with no page to come back to: offer only methods without redirects
            # (Stripe otherwise rejects the call, asking for a return_url).
            params["automatic_payment_methods"]["allow_redirects"] = "never"
    for name in (  # the config fields that are Stripe's parameters of the same name and value
        "description", "customer", "payment_method", "receipt_email", "return_url", "confirm",
        "off_session", "capture_method", "statement_descriptor_suffix",
    ):  # fmt: skip
        if name in config:
            params[name] = config[name]
    if "metadata" in config:
        params["metadata"] = dict(config["metadata"])
    return params


_RESULT_FIELDS = (
    "id",
    "status",
    "amount",
    "amount_received",
    "currency",
    "customer",
    "payment_method",
    "description",
    "metadata",
    "capture_method",
    "latest_charge",
    "livemode",
    "created",
)


def intent_result(intent: stripe.PaymentIntent, *, client_secret: bool) -> dict[str, Any]:
    """The compact result: the intent's state, what it needs next, replayed or not."""
    data = intent.to_dict()
    result = {name: data[name] for name in _RESULT_FIELDS if name in data}
    next_action = data.get("next_action")
    if isinstance(next_action, dict) and next_action.get("type"):
        result["next_action"] = next_action["type"]
    if client_secret and data.get("client_secret"):
        result["client_secret"] = data["client_secret"]
    response = intent.last_response
    replayed = response.headers.get("idempotent-replayed") if response is not None else None
    result["idempotent_replayed"] = str(replayed).lower() == "true"
    return result


class StripeCreatePaymentIntentIntegration(StripeIntegration):
    """Create a PaymentIntent with stripe-python's async API (``v1.payment_intents.create_async``).

    Config: ``amount`` in minor units and ``currency`` (required), ``description``,
    ``metadata`` (≤50 string pairs), ``customer``, ``payment_method``, ``confirm`` (needs a
    ``payment_method``), ``off_session``, ``return_url``, ``capture_method``,
    ``receipt_email``, ``statement_descriptor_suffix``, ``automatic_payment_methods`` (default
    on) or ``allowed_payment_method_types``, and ``return_client_secret`` (off: the client
    secret only goes into the result when the bot needs it for Stripe.js). Credentials:
    ``{"api_key": "sk_..."}``. The request's idempotency key goes out as ``Idempotency-Key``.
    Returns the intent's ``id``, ``status``, amounts, ``next_action`` (its type) and
    ``idempotent_replayed``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], api_key: str, logger: BotLogger) -> dict[str, Any]:
        params = intent_params(config)
        options: stripe.RequestOptions = {
            "api_key": api_key,
            "idempotency_key": idempotency_key(logger),
        }
        try:
            intent = await self.stripe_client.v1.payment_intents.create_async(params, options)
        except IntegrationError as error:  # the seam's, through the SDK (it has no logger)
            logger.warning(
                "Stripe request failed: %s", error.message, category=error.category.value
            )
            raise
        result = intent_result(intent, client_secret=config.get("return_client_secret", False))
        logger.info(
            "stripe payment intent created",
            payment_intent=result.get("id"),
            status=result.get("status"),
            replayed=result["idempotent_replayed"],
        )
        return ok(result)
