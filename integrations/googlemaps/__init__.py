"""Google Maps Platform integrations (plain httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLEMAPS__BASE_URL`` moves the Geocoding
host (default ``https://maps.googleapis.com``).
"""

from integrations.registry import registry

from .client import GoogleMapsIntegration
from .geocode import GoogleMapsGeocodeIntegration

__all__ = ["INTEGRATIONS", "GoogleMapsGeocodeIntegration", "GoogleMapsIntegration"]

# Not bound to the action's module name (``geocode``): that would shadow the submodule.
INTEGRATIONS = (GoogleMapsGeocodeIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
