"""YooKassa (ЮKassa) integrations over httpx, registered seed-style on import."""

from integrations.registry import registry

from .client import PaymentProcessingError, YooKassaIntegration
from .create_payment import YooKassaCreatePaymentIntegration

__all__ = ["PaymentProcessingError", "YooKassaCreatePaymentIntegration", "YooKassaIntegration"]

create_payment = YooKassaCreatePaymentIntegration()

registry.register(create_payment)
