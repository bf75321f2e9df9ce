"""A read-only test integration for replay tests, loaded by test workers through
``ACTIONSTREAM_INTEGRATIONS__EXTRA_MODULES`` (seed-style registration).

``replaykit_lookup`` declares ``side_effect=none`` (so replay needs no ``--allow-side-effects``)
and fails permanently while the file named by ``config["gate"]`` exists: a test closes the gate,
lets a request fail, opens it, and replays.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from uuid import UUID

from integrations.base import (
    BaseIntegration,
    CredentialsResolverLike,
    IntegrationMetadata,
    SideEffect,
)
from integrations.bot_logger import BotLogger
from integrations.errors import PermanentError
from integrations.registry import registry

METADATA = IntegrationMetadata(
    id="replaykit_lookup",
    version="1.0.0",
    name="Replaykit lookup",
    description="a lookup that fails while its gate file exists",
    category="messaging",
    config_schema={
        "type": "object",
        "properties": {"gate": {"type": "string"}},
        "required": ["gate"],
        "additionalProperties": False,
    },
    credentials_strategy="none",
    side_effect=SideEffect.NONE,
    timeout_s=5,
)


class ReplaykitLookupIntegration(BaseIntegration):
    """Fails while the gate file exists, succeeds once it is gone."""

    @property
    def metadata(self) -> IntegrationMetadata:
        return METADATA

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        if await asyncio.to_thread(os.path.exists, config["gate"]):
            raise PermanentError("the gate is closed")
        return {"response": {"ok": True, "result": {"gate": "open"}}}


registry.register(ReplaykitLookupIntegration())
