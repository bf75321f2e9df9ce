"""openFDA integrations (plain httpx), registered seed-style on import.

openFDA is public: a bot's ``openfda`` API key is optional (it raises the daily limit). The
worker hands the integrations its shared HTTP clients at start-up:
``integrations.openfda.configure(clients)``; the host is overridable with
``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENFDA__BASE_URL``.
"""

from integrations.http import HttpClients
from integrations.registry import registry

from .client import OpenFdaIntegration
from .drug_label import OpenFdaDrugLabelIntegration

__all__ = ["OpenFdaDrugLabelIntegration", "OpenFdaIntegration", "configure"]

drug_label = OpenFdaDrugLabelIntegration()

registry.register(drug_label)


def configure(clients: HttpClients) -> None:
    """Give the registered openFDA integrations the worker's clients (once, at start-up)."""
    drug_label.configure(clients)
