"""Yandex Weather integrations (httpx, API v3 GraphQL), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__YANDEXWEATHER__BASE_URL`` moves them
(default ``https://api.weather.yandex.ru``).
"""

from integrations.registry import registry

from .forecast import YandexWeatherForecastIntegration

__all__ = ["INTEGRATIONS", "YandexWeatherForecastIntegration"]

# Not bound to the action's module name (``forecast``): that would shadow the submodule.
INTEGRATIONS = (YandexWeatherForecastIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
