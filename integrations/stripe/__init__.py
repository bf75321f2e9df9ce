"""Stripe integrations over stripe-python's async API, registered seed-style on import.

Inside this package ``import stripe`` is the SDK (absolute imports), not this package.
"""

from integrations.registry import registry

from .client import SharedHttpxClient, StripeIntegration
from .create_payment_intent import StripeCreatePaymentIntentIntegration

__all__ = [
    "INTEGRATIONS",
    "SharedHttpxClient",
    "StripeCreatePaymentIntentIntegration",
    "StripeIntegration",
]

# Not bound to the action's module name (``create_payment_intent``): it would shadow the module.
INTEGRATIONS = (StripeCreatePaymentIntentIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
