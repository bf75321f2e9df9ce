"""The fake Stripe's object model: form decoding, PaymentIntent validation and creation.

Test payment methods behave as on Stripe: ``pm_card_visa`` succeeds, ``pm_card_chargeDeclined``
(generic_decline) and ``pm_card_chargeDeclinedInsufficientFunds`` are declined with a 402,
``pm_card_authenticationRequired`` needs 3-D Secure (``requires_action``).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from integrations.testing import bracket_form

__all__ = ["decline", "idempotency_key_in_use", "invalid", "new_intent", "parse_form", "validate"]

_DECLINES = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_visa_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
}


def parse_form(text: str) -> dict[str, Any]:
    """Decode Stripe's form encoding: ``a[b][0]=x`` → ``{"a": {"b": ["x"]}}`` (values stay str)."""
    return bracket_form(parse_qsl(text, keep_blank_values=True))


def validate(params: dict[str, Any], customers: set[str]) -> dict[str, Any] | None:
    """Stripe's checks before execution; an error object, or ``None`` when the params are fine."""
    amount = params.get("amount")
    if amount is None:
        return invalid("Missing required param: amount.", "amount", "parameter_missing")
    if not str(amount).isdigit() or int(amount) < 1:
        return invalid("Invalid integer: " + str(amount), "amount", "parameter_invalid_integer")
    currency = params.get("currency")
    if not isinstance(currency, str) or not re.fullmatch("[a-z]{3}", currency):
        return invalid(f"Invalid currency: {currency}", "currency")
    if currency == "usd" and int(amount) < 50:
        return invalid("Amount must be at least $0.50 usd", "amount", "amount_too_small")
    customer = params.get("customer")
    if customer is not None and customer not in customers:
        return invalid(f"No such customer: '{customer}'", "customer", "resource_missing")
    automatic = params.get("automatic_payment_methods")
    redirects = automatic.get("allow_redirects") if isinstance(automatic, dict) else None
    if (
        params.get("confirm") == "true"
        and isinstance(automatic, dict)
        and redirects != "never"
        and not params.get("return_url")
    ):
        return invalid(
            "This PaymentIntent is configured to accept payment methods enabled in your "
            "Dashboard, because some of these payment methods might redirect your customer "
            "off of your page, you must provide a `return_url`.",
            "return_url",
        )
    return None


def new_intent(params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Execute a create: (HTTP status, answer body, the intent as stored)."""
    intent_id = f"pi_{secrets.token_hex(12)}"
    method = params.get("payment_method")
    capture = params.get("capture_method", "automatic_async")
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": int(params["amount"]),
        "amount_received": 0,
        "currency": params["currency"],
        "status": "requires_payment_method",
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
        "capture_method": capture,
        "customer": params.get("customer"),
        "payment_method": method,
        "description": params.get("description"),
        "metadata": params.get("metadata", {}),
        "latest_charge": None,
        "next_action": None,
        "last_payment_error": None,
        "livemode": False,
        "created": int(time.time()),
    }
    if method:
        intent["status"] = "requires_confirmation"
    if params.get("confirm") != "true" or not method:
        return 200, intent, intent
    declined = _DECLINES.get(method)
    if declined is not None:
        intent.update(status="requires_payment_method", payment_method=None)
        error = decline(declined, intent)
        intent["last_payment_error"] = {k: v for k, v in error.items() if k != "payment_intent"}
        return 402, {"error": error}, intent
    if method == "pm_card_authenticationRequired":
        intent.update(status="requires_action", next_action={"type": "use_stripe_sdk"})
        return 200, intent, intent
    charge = f"ch_{secrets.token_hex(12)}"
    if capture == "manual":
        intent.update(status="requires_capture", latest_charge=charge)
    else:
        intent.update(status="succeeded", latest_charge=charge, amount_received=intent["amount"])
    return 200, intent, intent


def invalid(message: str, param: str, code: str = "parameter_invalid") -> dict[str, Any]:
    return {"type": "invalid_request_error", "code": code, "message": message, "param": param}


def idempotency_key_in_use(key: str) -> dict[str, Any]:
    return {
        "type": "invalid_request_error",
        "code": "idempotency_key_in_use",
        "message": "There is currently another in-progress request using this Stripe-Idempotency "
        f"key ('{key}'). Please try again later.",
    }


def decline(decline_code: str, intent: dict[str, Any] | None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": "Your card was declined."
        if decline_code == "generic_decline"
        else f"Your card was declined ({decline_code}).",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    }
    if intent is not None:
        error["payment_intent"] = {k: v for k, v in intent.items() if k != "last_payment_error"}
    return error
