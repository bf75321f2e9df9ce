"""Yandex Maps integrations (the Geocoder HTTP API over httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__YANDEXMAPS__BASE_URL`` moves the Geocoder
host (default ``https://geocode-maps.yandex.ru``).
"""

from integrations.registry import registry

from .geocode import YandexMapsGeocodeIntegration

__all__ = ["INTEGRATIONS", "YandexMapsGeocodeIntegration"]

# Not bound to the action's module name (``geocode``): that would shadow the submodule.
INTEGRATIONS = (YandexMapsGeocodeIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
