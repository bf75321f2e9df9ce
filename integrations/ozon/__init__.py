"""Ozon Seller API integrations (plain httpx), registered seed-style on import.

Each bot's ``Client-Id`` and ``Api-Key`` come from its ``ozon`` credentials (``{"client_id",
"api_key"}``). They are ``HttpIntegration`` subclasses: the worker hands them its shared
``HttpClients`` at start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OZON__BASE_URL`` moves
the Seller API host.
"""

from integrations.registry import registry

from .client import OzonIntegration, OzonKeys
from .get_stocks import OzonGetStocksIntegration

__all__ = ["INTEGRATIONS", "OzonGetStocksIntegration", "OzonIntegration", "OzonKeys"]

# Not bound to the action's module name (``get_stocks``): that would shadow the submodule.
INTEGRATIONS = (OzonGetStocksIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
