"""Failure routing, idempotency and policies of RequestProcessor, in process.

Real Redis (claims, rate limits) and the real scheduler; Kafka is out of the picture here: the
sink records what would be published (the pipeline tests cover Kafka end to end).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import redis.asyncio as aioredis

from integrations.base import (
    BaseIntegration,
    CredentialsResolverLike,
    IntegrationMetadata,
    RateLimit,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import (
    AuthError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.registry import IntegrationRegistry
from processors.executor import Executor
from processors.idempotency import ClaimState, IdempotencyStore
from processors.ordering import OrderedScheduler
from processors.outputs import Outputs
from processors.processor import RequestProcessor
from processors.ratelimit import RateLimiter
from processors.records import InboundRecord
from processors.retries import ATTEMPTS_HEADER, decode_attempts
from processors.settings import ProcessingSettings, TopicSettings
from schemas import AvroCodec, DeadLetter, IntegrationRequest, IntegrationResult, ResultStatus
from schemas import utc_now as now

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

    async def invalidate(self, bot_id: str, provider: str) -> None:
        self.invalidated.append((bot_id, provider))


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
    offsets: itertools.count[int] = field(default_factory=itertools.count)

    async def send(self, request: IntegrationRequest, headers: Any = ()) -> None:
        record = InboundRecord(
            topic=TOPICS.requests,
            partition=0,
            offset=next(self.offsets),
            key=request.bot_id.encode(),
            value=CODEC.encode(request),
            headers=tuple(headers),
            timestamp_ms=0,
        )
        assert await self.scheduler.submit(record, lambda: None)

    async def settle(self, timeout_s: float = 20) -> None:
        await asyncio.wait_for(self.scheduler.wait_idle(), timeout_s)


@pytest.fixture
async def make(redis_client: aioredis.Redis, unique: str) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def build(*integrations: BaseIntegration, redis: aioredis.Redis | None = None,
              **settings: Any) -> Harness:  # fmt: skip
        registry = IntegrationRegistry()
        for integration in integrations:
            registry.register(integration)
        resolver, sink = Resolver(), Sink()
        store = IdempotencyStore(redis or redis_client, namespace=f"t{unique}", lease_s=0.5)
        processing = ProcessingSettings(
            **{"backoff_base_s": 0.01, "inline_delay_limit_s": 1.0, **settings}
        )
        processor = RequestProcessor(
            outputs=Outputs(codec=CODEC, sink=sink, topics=TOPICS, worker_id="w1"),  # type: ignore[arg-type]
            executor=Executor(registry, resolver),
            resolver=resolver,
            idempotency=store,
            limiter=RateLimiter(redis or redis_client, namespace=f"t{unique}"),
            settings=processing,
            worker_id="w1",
            rng=random.Random(7),
        )
        scheduler = OrderedScheduler(processor.handle, max_in_flight=8, max_buffered=64)
        harness = Harness(registry, resolver, sink, store, scheduler)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.scheduler.drain(1)


def request(action: str, bot: str = "bot-1", **fields: Any) -> IntegrationRequest:
    return IntegrationRequest.new(
        bot_id=bot, integration_id=f"script_{action}", config={}, **fields
    )


async def test_success_then_a_replay_is_a_duplicate_without_a_second_call(make: Any) -> None:
    action = Scripted("send", [])
    h = make(action)
    original = request("send")
    await h.send(original)
    await h.settle()
    await h.send(original)  # the same request redelivered or replayed
    await h.settle()
    first, second = h.sink.results()
    assert first.status is ResultStatus.SUCCEEDED
    assert second.status is ResultStatus.DUPLICATE
    assert second.request_id == original.request_id
    assert second.response == first.response
    assert action.calls == 1
    assert h.sink.dead_letters() == []


async def test_transient_failures_back_off_then_succeed(make: Any) -> None:
    action = Scripted("flaky", [TransientError("503 upstream"), TransientError("503 again")])
    h = make(action)
    await h.send(request("flaky"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.SUCCEEDED
    assert result.attempt == 3
    assert action.calls == 3


async def test_after_the_last_attempt_failed_with_every_error_and_a_dead_letter(
    make: Any,
) -> None:
    action = Scripted("down", [TransientError(f"boom {i}") for i in range(10)], max_attempts=3)
    h = make(action)
    req = request("down")
    await h.send(req)
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.category == "transient"
    assert result.error.message.startswith("3 attempts: #1 transient 503: boom 0; #2")
    (letter,) = h.sink.dead_letters()
    assert letter.attempts == 3
    assert letter.request_id == str(req.request_id)
    assert letter.first_failure_at is not None
    assert letter.first_failure_at <= letter.last_failure_at  # type: ignore[operator]
    assert action.calls == 3
    # A failed request is not stored as done: a replay runs it again.
    claim = await h.store.claim(req.bot_id, str(req.request_id), "operator")
    assert claim.state is ClaimState.ACQUIRED


async def test_auth_failure_invalidates_credentials_and_retries_once(make: Any) -> None:
    action = Scripted("auth", [AuthError("token revoked"), AuthError("still revoked")])
    h = make(action)
    await h.send(request("auth", bot="bot-a"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.category == "auth"
    assert h.resolver.invalidated == [("bot-a", "script")]
    assert action.calls == 2
    assert len(h.sink.dead_letters()) == 1


async def test_auth_failure_then_fresh_credentials_succeed(make: Any) -> None:
    action = Scripted("auth2", [AuthError("token revoked")])
    h = make(action)
    await h.send(request("auth2"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.calls == 2


async def test_permanent_failure_is_final_at_once(make: Any) -> None:
    action = Scripted("perm", [PermanentError("chat not found")])
    h = make(action)
    await h.send(request("perm"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert action.calls == 1
    assert len(h.sink.dead_letters()) == 1


async def test_expired_request_is_not_executed(make: Any) -> None:
    action = Scripted("late", [])
    h = make(action)
    await h.send(request("late", deadline=now() - timedelta(seconds=1)))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.EXPIRED
    assert action.calls == 0
    assert h.sink.dead_letters() == []


async def test_rate_limited_bot_is_parked_while_others_flow(make: Any) -> None:
    limited = Scripted("limited", [RateLimitedError("slow down", retry_after_s=0.4)])
    other = Scripted("other", [])
    h = make(limited, other)
    await h.send(request("limited", bot="bot-slow"))
    await asyncio.sleep(0.05)
    await h.send(request("other", bot="bot-fast"))
    await h.settle()
    results = h.sink.results()
    assert [r.bot_id for r in results] == ["bot-fast", "bot-slow"]
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    assert limited.calls == 2


async def test_a_long_wait_goes_to_the_retry_topic(make: Any) -> None:
    action = Scripted("later", [RateLimitedError("come back in an hour", retry_after_s=3600)])
    h = make(action)
    req = request("later")
    await h.send(req, headers=[("traceparent", b"00-abc-def-01")])
    await h.settle()
    assert h.sink.results() == []
    ((value, headers),) = h.sink.on(TOPICS.retry)
    retried = CODEC.decode(IntegrationRequest, value)
    assert retried.request_id == req.request_id
    assert retried.attempt == 2
    assert retried.not_before is not None
    assert retried.not_before > now() + timedelta(minutes=59)
    history = decode_attempts(dict(headers)[ATTEMPTS_HEADER])
    assert [a.category for a in history] == ["rate_limited"]
    assert dict(headers)["traceparent"] == b"00-abc-def-01"
    # the claim was released cleanly: the retry may run it
    claim = await h.store.claim(req.bot_id, str(req.request_id), "retry-worker")
    assert claim.state is ClaimState.ACQUIRED


async def test_maybe_delivered_non_idempotent_action_reports_outcome_unknown(make: Any) -> None:
    action = Scripted(
        "once",
        [OutcomeUnknownError("read timeout after sending")],
        on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    )
    h = make(action)
    req = request("once")
    await h.send(req)
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.OUTCOME_UNKNOWN
    assert action.calls == 1
    assert len(h.sink.dead_letters()) == 1
    await h.send(req)  # redelivered: still no second call
    await h.settle()
    assert h.sink.results()[-1].status is ResultStatus.DUPLICATE
    assert action.calls == 1


async def test_maybe_delivered_action_with_reexecute_policy_is_retried(make: Any) -> None:
    action = Scripted(
        "twice",
        [OutcomeUnknownError("read timeout after sending")],
        on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    )
    h = make(action)
    await h.send(request("twice"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.calls == 2


async def test_settings_override_the_declared_unknown_outcome_policy(make: Any) -> None:
    action = Scripted(
        "override",
        [OutcomeUnknownError("read timeout")],
        on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    )
    h = make(action, unknown_outcome={"script_override": "report"})
    await h.send(request("override"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.OUTCOME_UNKNOWN]


async def test_interrupted_claim_follows_the_side_effect_policy(make: Any) -> None:
    unsafe = Scripted("unsafe", [], on_unknown_outcome=UnknownOutcomePolicy.REPORT)
    safe = Scripted("safe", [], side_effect=SideEffect.IDEMPOTENT)
    h = make(unsafe, safe)
    first, second = request("unsafe"), request("safe")
    for req in (first, second):  # a worker claimed them and died mid-call
        claim = await h.store.claim(req.bot_id, str(req.request_id), "dead-worker")
        assert claim.state is ClaimState.ACQUIRED
    await asyncio.sleep(0.6)  # past the 0.5 s lease
    await h.send(first)
    await h.send(second)
    await h.settle()
    statuses = {r.integration_id: r.status for r in h.sink.results()}
    assert statuses == {
        "script_unsafe": ResultStatus.OUTCOME_UNKNOWN,
        "script_safe": ResultStatus.SUCCEEDED,
    }
    assert unsafe.calls == 0
    assert safe.calls == 1


async def test_rate_limits_from_metadata_are_enforced_across_requests(make: Any) -> None:
    action = Scripted(
        "limited_meta", [], rate_limits=(RateLimit(scope="credential", limit=1, period_s=0.3),)
    )
    h = make(action)
    for _ in range(3):
        await h.send(request("limited_meta"))
    started = asyncio.get_running_loop().time()
    await h.settle()
    elapsed = asyncio.get_running_loop().time() - started
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED] * 3
    assert elapsed >= 0.5, "three calls at 1 per 0.3 s cannot finish in under 0.6 s"


async def test_without_redis_nothing_executes_and_nothing_is_lost(make: Any) -> None:
    action = Scripted("paused", [])
    dead = aioredis.Redis(port=1, socket_connect_timeout=0.1, socket_timeout=0.1)
    h = make(action, redis=dead)
    await h.send(request("paused"))
    await asyncio.sleep(1.0)
    assert action.calls == 0
    assert h.sink.records == []
    assert h.scheduler.buffered == 1, "the request was dropped instead of waiting for Redis"
    await dead.aclose()
