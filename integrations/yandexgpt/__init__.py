"""YandexGPT integrations (Yandex Cloud Foundation Models, plain httpx), registered seed-style.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__YANDEXGPT__BASE_URL`` moves them (default
``https://llm.api.cloud.yandex.net``).
"""

from integrations.registry import registry

from .client import YandexGPTIntegration
from .completion import YandexGPTCompletionIntegration

__all__ = ["INTEGRATIONS", "YandexGPTCompletionIntegration", "YandexGPTIntegration"]

# Not bound to the action's module name (``completion``): that would shadow the submodule.
INTEGRATIONS = (YandexGPTCompletionIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
