"""Moodle web-service integrations (plain httpx), registered seed-style on import.

Each bot's site URL and token come from its ``moodle`` credentials (``{"site_url", "token"}``).
They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up.
"""

from integrations.registry import registry

from .client import MoodleIntegration, MoodleSite
from .send_message import MoodleSendMessageIntegration

__all__ = ["INTEGRATIONS", "MoodleIntegration", "MoodleSendMessageIntegration", "MoodleSite"]

# Not bound to the action's module name (``send_message``): that would shadow the submodule.
INTEGRATIONS = (MoodleSendMessageIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
