"""OpenAI integrations (the official ``openai`` SDK, async), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the SDK runs over the worker's shared httpx client, and
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL`` moves them (default
``https://api.openai.com/v1``).
"""

from integrations.registry import registry

from .chat_completion import OpenAIChatCompletionIntegration
from .client import OpenAIIntegration

__all__ = ["INTEGRATIONS", "OpenAIChatCompletionIntegration", "OpenAIIntegration"]

# Not bound to the action's module name (``chat_completion``): that would shadow the submodule.
INTEGRATIONS = (OpenAIChatCompletionIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
