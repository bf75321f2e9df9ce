"""Telegram integrations (python-telegram-bot), registered seed-style on import.

The worker hands them its client pool at start-up::

    pool = TelegramClientPool(settings.telegram)
    integrations.telegram.configure(pool)
    ...
    await pool.aclose()  # at shutdown
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
    "configure",
]

send_message = TelegramSendMessageIntegration()
send_photo = TelegramSendPhotoIntegration()

registry.register(send_message)
registry.register(send_photo)


def configure(pool: TelegramClientPool) -> None:
    """Give the registered Telegram integrations the worker's pool (call once at start-up)."""
    for integration in (send_message, send_photo):
        integration.configure(pool)
