"""An in-process RequestProcessor over real Redis, with scripted integrations and a recording sink.

Kafka is out of the picture: the sink records what would be published (the pipeline tests cover
Kafka end to end). The ``make`` fixture (tests/processors/conftest.py) builds one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.registry import IntegrationRegistry
from processors.call_marks import CallMarks
from processors.executor import Executor
from processors.idempotency import IdempotencyStore
from processors.ordering import OrderedScheduler
from processors.outputs import Outputs
from processors.processor import RequestProcessor
from processors.ratelimit import RateLimiter
from processors.records import InboundRecord
from processors.settings import ProcessingSettings, TopicSettings
from schemas import AvroCodec, DeadLetter, IntegrationRequest, IntegrationResult

TOPICS = TopicSettings()
CODEC = AvroCodec()


class Scripted(BaseIntegration):
    """Plays a script of outcomes, one per call (an exception to raise, or an envelope)."""

    def __init__(self, action: str, script: list[Any], **meta: Any) -> None:
        self.action = action
        self.script = list(script)
        self.calls = 0
        self.meta = meta

    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id=f"script_{self.action}",
            version="1.0.0",
            name=self.action,
            description="scripted",
            category="messaging",
            config_schema={"type": "object"},
            credentials_provider="script",
            **self.meta,
        )

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0) if self.script else {"response": {"ok": True, "result": 1}}
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]


class Resolver:
    def __init__(self) -> None:
        self.invalidated: list[tuple[str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        return {"token": f"token-of-{bot_id}"}

    async def invalidate(self, bot_id: str, provider: str, *, rejected: bool = False) -> None:
        self.invalidated.append((bot_id, provider))

    def peek_default_for(self, *, bot_id: UUID | str, provider: str, strategy: str) -> None:
        return None  # never cached here: the processor asks get_default_for


@dataclass
class Sink:
    records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def publish(self, topic: str, key: bytes, value: bytes, headers: Any = None) -> None:
        self.records.append((topic, key, value, list(headers or [])))

    def on(self, topic: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
        return [(v, h) for t, _, v, h in self.records if t == topic]

    def results(self) -> list[IntegrationResult]:
        return [CODEC.decode(IntegrationResult, v) for v, _ in self.on(TOPICS.results)]

    def dead_letters(self) -> list[DeadLetter]:
        return [CODEC.decode(DeadLetter, v) for v, _ in self.on(TOPICS.dlq)]


@dataclass
class Harness:
    registry: IntegrationRegistry
    resolver: Resolver
    sink: Sink
    store: IdempotencyStore
    scheduler: OrderedScheduler
    processor: RequestProcessor
    offsets: itertools.count[int] = field(default_factory=itertools.count)

    async def send(
        self, request: IntegrationRequest, headers: Any = (), *, key: bytes | None = None
    ) -> None:
        """Submit ``request`` as the next record (keyed by its bot_id unless ``key`` is given)."""
        record = InboundRecord(
            topic=TOPICS.requests,
            partition=0,
            offset=next(self.offsets),
            key=request.bot_id.encode() if key is None else key,
            value=CODEC.encode(request),
            headers=tuple(headers),
            timestamp_ms=0,
        )
        assert await self.scheduler.submit(record, lambda: None)

    async def settle(self, timeout_s: float = 20) -> None:
        await asyncio.wait_for(self.scheduler.wait_idle(), timeout_s)


def request(action: str, bot: str = "bot-1", **fields: Any) -> IntegrationRequest:
    return IntegrationRequest.new(
        bot_id=bot, integration_id=f"script_{action}", config={}, **fields
    )


def build_harness(
    redis_client: aioredis.Redis,
    namespace: str,
    *integrations: BaseIntegration,
    redis: aioredis.Redis | None = None,
    lease_s: float = 0.5,
    marks: CallMarks | None = None,
    **settings: Any,
) -> Harness:
    """A processor and scheduler over ``integrations``; ``settings`` override ProcessingSettings."""
    registry = IntegrationRegistry()
    for integration in integrations:
        registry.register(integration)
    resolver, sink = Resolver(), Sink()
    store = IdempotencyStore(
        redis or redis_client, namespace=namespace, lease_s=lease_s, marks=marks
    )
    processing = ProcessingSettings(
        **{
            "backoff_base_s": 0.01,
            "inline_delay_limit_s": 1.0,
            "idempotency_lease_s": lease_s,
            **settings,
        }
    )
    processor = RequestProcessor(
        outputs=Outputs(codec=CODEC, sink=sink, topics=TOPICS, worker_id="w1"),  # type: ignore[arg-type]
        executor=Executor(registry, resolver),
        resolver=resolver,
        idempotency=store,
        limiter=RateLimiter(redis or redis_client, namespace=namespace),
        settings=processing,
        worker_id="w1",
        rng=random.Random(7),
    )
    scheduler = OrderedScheduler(
        processor.handle, max_in_flight=8, max_buffered=64, on_crash=processor.crashed
    )
    return Harness(registry, resolver, sink, store, scheduler, processor)
