"""PayPal integrations (Orders v2 over httpx), registered seed-style on import, with PayPal's
client-credentials token endpoint declared for the worker's OAuth refresher."""

from integrations.credentials.oauth import register_token_endpoint
from integrations.registry import registry

from .client import PAYPAL_TOKEN, PayPalIntegration
from .create_order import PayPalCreateOrderIntegration

__all__ = ["INTEGRATIONS", "PayPalCreateOrderIntegration", "PayPalIntegration"]

# Not bound to the action's module name (``create_order``): that would shadow the submodule.
INTEGRATIONS = (PayPalCreateOrderIntegration(),)

register_token_endpoint("paypal", PAYPAL_TOKEN)
for _integration in INTEGRATIONS:
    registry.register(_integration)
