"""Google Cloud Translation (Basic, v2) integrations (plain httpx), registered seed-style.

The worker hands them its shared HTTP clients at start-up:
``integrations.googletranslate.configure(clients)``; the host is overridable with
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLETRANSLATE__BASE_URL``.
"""

from integrations.http import HttpClients
from integrations.registry import registry

from .client import GoogleTranslateIntegration
from .translate import GoogleTranslateTranslateIntegration

__all__ = ["GoogleTranslateIntegration", "GoogleTranslateTranslateIntegration", "configure"]

translate = GoogleTranslateTranslateIntegration()

registry.register(translate)


def configure(clients: HttpClients) -> None:
    """Give the registered Google Translate integrations the worker's clients (at start-up)."""
    translate.configure(clients)
