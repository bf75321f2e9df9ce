"""Bitrix24 CRM integrations over an inbound webhook (httpx), registered seed-style on import."""

from integrations.registry import registry

from .add_lead import Bitrix24AddLeadIntegration
from .client import Bitrix24Integration, Webhook, install_webhook_log_filter

__all__ = [
    "Bitrix24AddLeadIntegration",
    "Bitrix24Integration",
    "Webhook",
    "install_webhook_log_filter",
]

add_lead = Bitrix24AddLeadIntegration()

registry.register(add_lead)
