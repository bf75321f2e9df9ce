"""Discord integrations (webhooks over httpx), registered seed-style on import.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__DISCORD__BASE_URL`` moves them (default
``https://discord.com/api/v10``).
"""

from integrations.registry import registry

from .execute_webhook import DiscordExecuteWebhookIntegration

__all__ = ["INTEGRATIONS", "DiscordExecuteWebhookIntegration"]

# Not bound to the action's module name (``execute_webhook``): that would shadow the submodule.
INTEGRATIONS = (DiscordExecuteWebhookIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
