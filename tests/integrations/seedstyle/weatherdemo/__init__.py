from integrations.registry import registry

from .get_forecast import WeatherdemoGetForecastIntegration

registry.register(WeatherdemoGetForecastIntegration())
