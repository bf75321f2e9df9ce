"""Telegram integrations (python-telegram-bot), registered seed-style on import.

The worker binds its client pool to them at start-up (``integration.bind(resources)``, see
:mod:`integrations.resources`).
"""

from integrations.registry import registry

from .client import TelegramClientPool, TelegramIntegration
from .send_message import TelegramSendMessageIntegration
from .send_photo import TelegramSendPhotoIntegration

__all__ = [
    "TelegramClientPool",
    "TelegramIntegration",
    "TelegramSendMessageIntegration",
    "TelegramSendPhotoIntegration",
]

send_message = TelegramSendMessageIntegration()
send_photo = TelegramSendPhotoIntegration()

registry.register(send_message)
registry.register(send_photo)
