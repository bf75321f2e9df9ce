"""Wildberries seller-API integrations (plain httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__WILDBERRIES__BASE_URL`` moves the
Marketplace API host.
"""

from integrations.registry import registry

from .client import WildberriesIntegration
from .get_stocks import WildberriesGetStocksIntegration

__all__ = ["INTEGRATIONS", "WildberriesGetStocksIntegration", "WildberriesIntegration"]

# Not bound to the action's module name (``get_stocks``): that would shadow the submodule.
INTEGRATIONS = (WildberriesGetStocksIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
