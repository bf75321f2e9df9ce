"""YooKassa (ЮKassa) integrations over httpx, registered seed-style on import."""

from integrations.registry import registry

from .client import PaymentProcessingError, YooKassaIntegration
from .create_payment import YooKassaCreatePaymentIntegration

__all__ = [
    "INTEGRATIONS",
    "PaymentProcessingError",
    "YooKassaCreatePaymentIntegration",
    "YooKassaIntegration",
]

# Not bound to the action's module name (``create_payment``): that would shadow the submodule.
INTEGRATIONS = (YooKassaCreatePaymentIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
