from integrations.registry import registry

from .send_invoice import BrokensdkSendInvoiceIntegration

registry.register(BrokensdkSendInvoiceIntegration())
