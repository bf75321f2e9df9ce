"""A seed-style integration whose library is not installed."""

from typing import Any

from nonexistent_sdk import InvoiceClient  # not installed: discovery must report it

from integrations.base import BaseIntegration, IntegrationMetadata


class BrokensdkSendInvoiceIntegration(BaseIntegration):
    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id="brokensdk_send_invoice",
            version="1.0.0",
            name="Brokensdk Send Invoice",
            description="Never loads",
            category="payments",
            config_schema={"type": "object"},
            credentials_provider="brokensdk",
            library_name="nonexistent_sdk",
        )

    async def execute(self, config, credentials_resolver, bot_id, logger) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        client = InvoiceClient()
        return {"response": {"ok": True, "result": await client.send(config)}}
