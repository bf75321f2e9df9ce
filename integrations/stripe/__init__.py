"""Stripe integrations over stripe-python's async API, registered seed-style on import.

Inside this package ``import stripe`` is the SDK (absolute imports), not this package.
"""

from integrations.registry import registry

from .client import SharedHttpxClient, StripeIntegration
from .create_payment_intent import StripeCreatePaymentIntentIntegration

__all__ = ["SharedHttpxClient", "StripeCreatePaymentIntentIntegration", "StripeIntegration"]

create_payment_intent = StripeCreatePaymentIntentIntegration()

registry.register(create_payment_intent)
