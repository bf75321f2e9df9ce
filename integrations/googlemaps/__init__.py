"""Google Maps Platform integrations (plain httpx), registered seed-style on import.

The worker hands them its shared HTTP clients at start-up: ``integrations.googlemaps.configure(
clients)``; the Geocoding host is overridable with
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLEMAPS__BASE_URL``.
"""

from integrations.http import HttpClients
from integrations.registry import registry

from .client import GoogleMapsIntegration
from .geocode import GoogleMapsGeocodeIntegration

__all__ = ["GoogleMapsGeocodeIntegration", "GoogleMapsIntegration", "configure"]

geocode = GoogleMapsGeocodeIntegration()

registry.register(geocode)


def configure(clients: HttpClients) -> None:
    """Give the registered Google Maps integrations the worker's clients (once, at start-up)."""
    geocode.configure(clients)
