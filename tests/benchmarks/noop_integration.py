"""A no-op integration that still takes the worker's full path, registered seed-style.

Loaded by the worker through
``ACTIONSTREAM_INTEGRATIONS__EXTRA_MODULES='["benchmarks.noop_integration"]'`` (with ``tests/`` on
``PYTHONPATH``). It declares credentials and a rate limit, so a request is
decoded, claimed in Redis, has its credentials resolved from the cache, takes a rate-limit slot
(a limit so large it never waits), executes, and its result is encoded, produced and committed:
everything but the provider call. The naive Faust baseline calls the same integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from integrations.base import (
    BaseIntegration,
    CredentialsResolverLike,
    IntegrationMetadata,
    RateLimit,
    RateLimitScope,
    SideEffect,
)
from integrations.bot_logger import BotLogger
from integrations.registry import registry
from schemas import IntegrationRequest, IntegrationResult, ResponseEnvelope, ResultStatus

NOOP_ID = "bench_noop"
PROVIDER = "bench"
STRATEGY = "api_key"

METADATA = IntegrationMetadata(
    id=NOOP_ID,
    version="1.0.0",
    name="Benchmark no-op",
    description="Resolves its credentials and answers at once: the pipeline's cost alone.",
    category="messaging",
    icon_s3_key="icons/integrations/bench.svg",
    color="#000000",
    config_schema={
        "type": "object",
        "properties": {
            "chat_id": {"type": "integer"},
            "text": {"type": "string", "minLength": 1, "maxLength": 4096},
            # Scenario 7 holds each request this long, so thousands are in flight at once.
            "hold_s": {"type": "number", "minimum": 0, "maximum": 4},
        },
        "required": ["chat_id", "text"],
        "additionalProperties": False,
    },
    credentials_provider=PROVIDER,
    credentials_strategy=STRATEGY,
    library_name="none",
    side_effect=SideEffect.NONE,
    timeout_s=5.0,
    # Declared so the limiter runs (a Redis script per request), but never makes anyone wait.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=1_000_000, period_s=1.0),),
)


class BenchNoopIntegration(BaseIntegration):
    """Looks its credentials up, then returns the chat id it was given."""

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
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider=PROVIDER, strategy=STRATEGY
        )
        if not creds:
            return {"response": {"ok": False, "error_code": 401, "description": "no credentials"}}
        if hold := config.get("hold_s"):
            await asyncio.sleep(hold)
        return {"response": {"ok": True, "result": {"chat_id": config["chat_id"], "ok": True}}}


class StaticResolver:
    """A dict lookup standing in for the credentials resolver (the naive baseline's)."""

    def __init__(self, token: str) -> None:
        self._credentials = {"token": token}

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        return dict(self._credentials)


def result_of(
    request: IntegrationRequest,
    envelope: Mapping[str, Any],
    *,
    received_at: datetime,
    finished_at: datetime,
    worker_id: str,
) -> IntegrationResult:
    """The SUCCEEDED result a no-op request gets (what the naive baseline publishes)."""
    response = envelope["response"]
    return IntegrationResult.for_request(
        request,
        status=ResultStatus.SUCCEEDED if response.get("ok") else ResultStatus.FAILED,
        response=ResponseEnvelope.from_mapping(response),
        received_at=received_at,
        started_at=received_at,
        finished_at=finished_at,
        worker_id=worker_id,
        integration_version=METADATA.version,
    )


registry.register(BenchNoopIntegration())
