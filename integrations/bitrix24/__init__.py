"""Bitrix24 CRM integrations over an inbound webhook (httpx), registered seed-style on import."""

from integrations.registry import registry

from .add_lead import Bitrix24AddLeadIntegration
from .client import Bitrix24Integration, Webhook, install_webhook_log_filter

__all__ = [
    "INTEGRATIONS",
    "Bitrix24AddLeadIntegration",
    "Bitrix24Integration",
    "Webhook",
    "install_webhook_log_filter",
]

# Not bound to the action's module name (``add_lead``): that would shadow the submodule.
INTEGRATIONS = (Bitrix24AddLeadIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
