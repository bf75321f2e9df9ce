"""openFDA integrations (plain httpx), registered seed-style on import.

openFDA is public: a bot's ``openfda`` API key is optional (it raises the daily limit). They are
``HttpIntegration`` subclasses: the worker hands them its shared ``HttpClients`` at start-up, and
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENFDA__BASE_URL`` moves them.
"""

from integrations.registry import registry

from .client import OpenFdaIntegration
from .drug_label import OpenFdaDrugLabelIntegration

__all__ = ["INTEGRATIONS", "OpenFdaDrugLabelIntegration", "OpenFdaIntegration"]

# Not bound to the action's module name (``drug_label``): that would shadow the submodule.
INTEGRATIONS = (OpenFdaDrugLabelIntegration(),)

for _integration in INTEGRATIONS:
    registry.register(_integration)
