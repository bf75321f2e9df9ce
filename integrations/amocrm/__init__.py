"""AmoCRM (Kommo) integrations over httpx (OAuth, per-account URL), registered seed-style."""

from integrations.credentials.oauth import register_token_endpoint
from integrations.registry import registry

from .client import AMOCRM, AMOCRM_TOKEN, AmoAccount, AmoCRMIntegration, account_url
from .create_lead import AmoCRMCreateLeadIntegration

__all__ = [
    "INTEGRATIONS",
    "AmoAccount",
    "AmoCRMCreateLeadIntegration",
    "AmoCRMIntegration",
    "account_url",
]

# Not bound to the action's module name (``create_lead``): that would shadow the submodule.
INTEGRATIONS = (AmoCRMCreateLeadIntegration(),)

register_token_endpoint(AMOCRM.name, AMOCRM_TOKEN)
for _integration in INTEGRATIONS:
    registry.register(_integration)
