"""Entry-point targets of every supported shape: a class, an instance, a register hook."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.registry import IntegrationRegistry


class HookdemoEchoIntegration(BaseIntegration):
    """Echoes its config; needs no credentials."""

    def __init__(self, version: str = "1.0.0") -> None:
        self._version = version

    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id="hookdemo_echo",
            version=self._version,
            name="Hookdemo Echo",
            description="Echo the config back",
            category="news",
            config_schema={"type": "object"},
            credentials_strategy="none",
            side_effect="none",
        )

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        return {"response": {"ok": True, "result": config}}


instance = HookdemoEchoIntegration("2.0.0")
not_an_integration = 42


def register(registry: IntegrationRegistry) -> None:
    registry.register(HookdemoEchoIntegration("3.0.0"))
