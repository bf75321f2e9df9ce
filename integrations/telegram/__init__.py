"""Telegram integrations (python-telegram-bot), registered seed-style on import.

The worker binds its client pool to them at start-up (``integration.bind(resources)``, see
:mod:`integrations.resources`).
"""

from integrations.registry import registry

from .client import TelegramClientPool, TelegramIntegration
from .send_message import TelegramSendMessageIntegration
from .send_photo import TelegramSendPhotoIntegration

__all__ = [
    "INTEGRATIONS",
    "TelegramClientPool",
    "TelegramIntegration",
    "TelegramSendMessageIntegration",
    "TelegramSendPhotoIntegration",
]

# Not bound to the actions' module names (``send_message``): that would shadow the submodules.
INTEGRATIONS = (TelegramSendMessageIntegration(), TelegramSendPhotoIntegration())

for _integration in INTEGRATIONS:
    registry.register(_integration)
