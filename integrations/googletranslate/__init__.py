"""Google Cloud Translation (Basic, v2) integrations (plain httpx), registered seed-style.

They are ``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at
start-up, and ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__GOOGLETRANSLATE__BASE_URL`` moves them
(default ``https://translation.googleapis.com``).
"""

from integrations.registry import registry

from .client import GoogleTranslateIntegration
from .translate import GoogleTranslateTranslateIntegration

__all__ = ["INTEGRATIONS", "GoogleTranslateIntegration", "GoogleTranslateTranslateIntegration"]

# Not bound to the action's module name (``translate``): that would shadow the submodule.
INTEGRATIONS = (GoogleTranslateTranslateIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
