"""Moodle web-service integrations (plain httpx), registered seed-style on import.

Each bot's site URL and token come from its ``moodle`` credentials (``{"site_url", "token"}``);
the worker hands the integrations its shared HTTP clients at start-up:
``integrations.moodle.configure(clients)``.
"""

from integrations.http import HttpClients
from integrations.registry import registry

from .client import MoodleIntegration, MoodleSite
from .send_message import MoodleSendMessageIntegration

__all__ = ["MoodleIntegration", "MoodleSendMessageIntegration", "MoodleSite", "configure"]

send_message = MoodleSendMessageIntegration()

registry.register(send_message)


def configure(clients: HttpClients) -> None:
    """Give the registered Moodle integrations the worker's clients (once, at start-up)."""
    send_message.configure(clients)
