"""Yandex Translate integrations (Translate API v2, plain httpx), registered seed-style.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__YANDEXTRANSLATE__BASE_URL`` moves them
(default ``https://translate.api.cloud.yandex.net``).
"""

from integrations.registry import registry

from .client import YandexTranslateIntegration
from .translate import YandexTranslateTranslateIntegration

__all__ = ["INTEGRATIONS", "YandexTranslateIntegration", "YandexTranslateTranslateIntegration"]

# Not bound to the action's module name (``translate``): that would shadow the submodule.
INTEGRATIONS = (YandexTranslateTranslateIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
