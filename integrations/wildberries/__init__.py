"""Wildberries seller-API integrations (plain httpx), registered seed-style on import.

The worker hands them its shared HTTP clients at start-up: ``integrations.wildberries.configure(
clients)``; the Marketplace API host is overridable with
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__WILDBERRIES__BASE_URL``.
"""

from integrations.http import HttpClients
from integrations.registry import registry

from .client import WildberriesIntegration
from .get_stocks import WildberriesGetStocksIntegration

__all__ = ["WildberriesGetStocksIntegration", "WildberriesIntegration", "configure"]

get_stocks = WildberriesGetStocksIntegration()

registry.register(get_stocks)


def configure(clients: HttpClients) -> None:
    """Give the registered Wildberries integrations the worker's clients (once, at start-up)."""
    get_stocks.configure(clients)
