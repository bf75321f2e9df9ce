"""HubSpot CRM integrations over httpx (OAuth), registered seed-style on import."""

from integrations.credentials.oauth import register_token_endpoint
from integrations.registry import registry

from .client import HUBSPOT, HUBSPOT_TOKEN, ContactExists, HubSpotIntegration
from .create_contact import HubSpotCreateContactIntegration
from .create_deal import HubSpotCreateDealIntegration

__all__ = [
    "INTEGRATIONS",
    "ContactExists",
    "HubSpotCreateContactIntegration",
    "HubSpotCreateDealIntegration",
    "HubSpotIntegration",
]

# Not bound to the actions' module names (``create_contact``...): that would shadow them.
INTEGRATIONS = (HubSpotCreateContactIntegration(), HubSpotCreateDealIntegration())

register_token_endpoint(HUBSPOT.name, HUBSPOT_TOKEN)
for _integration in INTEGRATIONS:
    registry.register(_integration)
