"""OpenWeatherMap integrations (httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENWEATHERMAP__BASE_URL`` moves them
(default ``https://api.openweathermap.org``).
"""

from integrations.registry import registry

from .current_weather import OpenWeatherMapCurrentWeatherIntegration

__all__ = ["INTEGRATIONS", "OpenWeatherMapCurrentWeatherIntegration"]

# Not bound to the action's module name (``current_weather``): that would shadow the submodule.
INTEGRATIONS = (OpenWeatherMapCurrentWeatherIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
