"""VK integrations (httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__VK__BASE_URL`` moves them (default
``https://api.vk.ru``).
"""

from integrations.registry import registry

from .send_message import VKSendMessageIntegration

__all__ = ["INTEGRATIONS", "VKSendMessageIntegration"]

# Not bound to the action's module name (``send_message``): that would shadow the submodule.
INTEGRATIONS = (VKSendMessageIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
