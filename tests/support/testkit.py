"""Integrations that misbehave on purpose, loaded by test workers through
``ACTIONSTREAM_INTEGRATIONS__EXTRA_MODULES='["support.testkit"]'`` (seed-style registration)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.registry import registry

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"note": {"type": "string"}},
    "additionalProperties": False,
}


def _metadata(action: str, description: str) -> IntegrationMetadata:
    return IntegrationMetadata(
        id=f"testkit_{action}",
        version="1.0.0",
        name=f"Testkit {action}",
        description=description,
        category="messaging",
        icon_s3_key="icons/integrations/testkit.svg",
        color="#000000",
        config_schema=_SCHEMA,
        credentials_provider="testkit",
        credentials_strategy="api_key",
        library_name="none",
        timeout_s=5,
    )


class TestkitCrashIntegration(BaseIntegration):
    """Raises an unexpected exception whose message holds the bot's secret."""

    @property
    def metadata(self) -> IntegrationMetadata:
        return _metadata("crash", "raises RuntimeError")

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider="testkit", strategy="api_key"
        )
        token = (creds or {}).get("token", "")
        raise RuntimeError(f"integration bug while using token {token}")


class TestkitLeakyIntegration(BaseIntegration):
    """Logs its config and credentials carelessly, then succeeds."""

    @property
    def metadata(self) -> IntegrationMetadata:
        return _metadata("leaky", "logs everything, returns ok")

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider="testkit", strategy="api_key"
        )
        logger.warning("running with config %s and credentials %s", config, creds)
        return {"response": {"ok": True, "result": {"note": config.get("note")}}}


registry.register(TestkitCrashIntegration())
registry.register(TestkitLeakyIntegration())
