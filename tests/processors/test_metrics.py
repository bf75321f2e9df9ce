"""Prometheus metrics: scraped from a real worker during a run, and counted by the processor.

The run test drives a worker subprocess on the real broker, Redis and the fake Telegram, and reads
``/metrics`` over HTTP; the in-process tests use the real scheduler and Redis with a scripted
integration, to reach the paths a run does not take quickly (the retry topic, limiter waits).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.credentials import CredentialsStats
from integrations.errors import RateLimitedError
from integrations.registry import IntegrationRegistry
from processors.executor import Executor
from processors.idempotency import IdempotencyStore
from processors.metrics import PrometheusMetrics, RuntimeCollector
from processors.ordering import Job, OrderedScheduler
from processors.outputs import Outputs
from processors.processor import RequestProcessor
from processors.ratelimit import RateLimiter
from processors.records import InboundRecord
from processors.settings import ProcessingSettings, TopicSettings
from schemas import AvroCodec, IntegrationRequest
from support.pipeline import Pipeline

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOPICS = TopicSettings()
CODEC = AvroCodec()


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    """The sum of every series of ``name`` (e.g. a gauge over its topics)."""
    return sum(v for (n, _), v in samples.items() if n == name)


async def scrape(pipeline: Pipeline) -> Samples:
    port = pipeline.settings.worker.web_port
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def scrape_until(
    pipeline: Pipeline, done: Callable[[Samples], bool], *, timeout_s: float = 15.0
) -> Samples:
    """Counters move right after a result is published: poll until they caught up."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        samples = await scrape(pipeline)
        if done(samples) or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(0.2)


async def test_metrics_move_with_the_traffic_of_a_run(pipeline: Pipeline) -> None:
    bots, per_bot = 3, 4
    pipeline.write_credentials(
        {
            pipeline.bot(b): {
                "telegram": {"token": pipeline.token(b)},
                "testkit": {"token": f"tk-{b}-secret-testkit-token"},
            }
            for b in range(bots)
        }
    )
    await pipeline.worker.astart()
    publish = pipeline.publisher.publish
    send = "telegram_send_message"
    # The first message gets a 429: retried once, inline (retry_after 1 s < 5 s).
    pipeline.fake.inject("rate_limit", chat_id=9000, retry_after=1)
    for b in range(bots):
        for n in range(per_bot):
            await publish(pipeline.bot(b), send, {"chat_id": 9000 + b * 10 + n, "text": f"{n}"})
    # Two messages to one chat: Telegram's 1/s per-chat limit makes the second one wait.
    for text in ("first", "second"):
        await publish(pipeline.bot(1), send, {"chat_id": 9999, "text": text})
    replayed = pipeline.publisher.build(pipeline.bot(2), send, {"chat_id": 9500, "text": "once"})
    await pipeline.publisher.send(replayed)
    await publish(pipeline.bot(0), "nosuch_action", {})
    await publish(pipeline.bot(0), "testkit_crash", {"note": "boom"})
    await pipeline.results(bots * per_bot + 5)
    await pipeline.publisher.send(replayed)  # already executed: DUPLICATE, no second call
    await pipeline.results(bots * per_bot + 6)

    succeeded = bots * per_bot + 3
    samples = await scrape_until(
        pipeline, lambda s: value(s, "actionstream_end_to_end_seconds_count") >= succeeded + 3
    )
    requests = "actionstream_requests_total"
    assert value(samples, requests, integration=send, status="SUCCEEDED") == succeeded
    assert value(samples, requests, integration=send, status="DUPLICATE") == 1
    assert value(samples, "actionstream_duplicates_total", integration=send) == 1
    assert value(samples, "actionstream_end_to_end_seconds_count") == succeeded + 3
    # Every call is timed, the 429 included; the 429 is an error and an inline retry.
    assert value(samples, "actionstream_execution_seconds_count", integration=send) == (
        succeeded + 1
    )
    assert value(samples, "actionstream_errors_total", integration=send, category="rate_limited")
    assert (
        value(samples, "actionstream_retries_scheduled_total", integration=send, via="inline") == 1
    )
    assert value(samples, "actionstream_rate_limit_waits_total", integration=send) >= 1
    # The unknown id is reported as "unknown"; the crash under its own (registered) id.
    for integration, category in (("unknown", "not_found"), ("testkit_crash", "internal")):
        assert value(samples, requests, integration=integration, status="FAILED") == 1
        labels = {"integration": integration, "category": category}
        assert value(samples, "actionstream_errors_total", **labels) == 1
        assert value(samples, "actionstream_dead_letters_total", **labels) == 1
    assert value(samples, "actionstream_dead_letters_total", integration=send) == 0
    # Read at scrape time: nothing runs or waits any more; the three bots' credentials were
    # fetched (misses) and then served from the cache.
    assert total(samples, "actionstream_in_flight") == 0
    assert total(samples, "actionstream_parked_bots") == 0
    requests_topic = pipeline.settings.topics.requests
    limit = "actionstream_limit"
    assert value(samples, limit, limit="max_in_flight", topic=requests_topic) == 256
    assert value(samples, "actionstream_credentials_cache_total", result="miss") >= bots
    hits = sum(
        value(samples, "actionstream_credentials_cache_total", result=r)
        for r in ("local_hit", "redis_hit")
    )
    assert hits > 0
    assert ("actionstream_integrations_unavailable", frozenset()) in samples
    # No bot id (nor anything else per request) ever becomes a label value.
    labels_seen = {v for _, labels in samples for _, v in labels}
    assert not [v for v in labels_seen if f"bot-{pipeline.unique}" in v]

    # Lag: every record of the requests topic is committed once the commit interval passed.
    topic = pipeline.settings.topics.requests

    def committed(s: Samples) -> bool:
        lags = [v for (name, labels), v in s.items()
                if name == "actionstream_consumer_lag" and ("topic", topic) in labels]  # fmt: skip
        return bool(lags) and sum(lags) == 0

    assert committed(await scrape_until(pipeline, committed)), "lag never reached 0"


async def test_lag_counts_the_records_not_committed_yet(pipeline: Pipeline) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    await pipeline.worker.astart()
    topic = pipeline.settings.topics.requests

    def lag(s: Samples) -> float | None:
        lags = [v for (name, labels), v in s.items()
                if name == "actionstream_consumer_lag" and ("topic", topic) in labels]  # fmt: skip
        return sum(lags) if lags else None

    send = pipeline.publisher.publish
    # A partition's lag is known once the group committed an offset on it (as with Kafka's
    # own tools): one quick message first.
    await send(bot, "telegram_send_message", {"chat_id": 100, "text": "quick"})
    assert lag(await scrape_until(pipeline, lambda s: lag(s) == 0)) == 0
    pipeline.fake.latency_s = 3.0  # the next message holds the bot's lane, and the commit
    for n in range(5):
        await send(bot, "telegram_send_message", {"chat_id": 101 + n, "text": "slow"})
    samples = await scrape_until(pipeline, lambda s: lag(s) == 5, timeout_s=2.5)
    assert lag(samples) == 5
    topic = pipeline.settings.topics.requests
    assert value(samples, "actionstream_in_flight", topic=topic) == 1
    assert total(samples, "actionstream_in_flight") == 1
    pipeline.fake.latency_s = 0.0
    await pipeline.results(6)  # finish before the worker stops (or it drains for 10 s)
    assert lag(await scrape_until(pipeline, lambda s: lag(s) == 0)) == 0


# -- in process: the processor's call sites ----------------------------------------------------


class Scripted(BaseIntegration):
    """Plays a script of outcomes, one per call (an exception to raise, or an envelope)."""

    def __init__(self, action: str, script: list[Any], **meta: Any) -> None:
        self.action, self.script, self.meta = action, list(script), meta

    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id=f"script_{self.action}", version="1.0.0", name=self.action,
            description="scripted", category="messaging", config_schema={"type": "object"},
            credentials_provider="script", **self.meta,
        )  # fmt: skip

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        step = self.script.pop(0) if self.script else {"response": {"ok": True, "result": 1}}
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]


class Resolver:
    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        return {"token": f"token-of-{bot_id}"}

    async def invalidate(self, bot_id: str, provider: str, *, rejected: bool = False) -> None:
        return None

    def peek_default_for(self, *, bot_id: UUID | str, provider: str, strategy: str) -> None:
        return None  # never cached here: the processor asks get_default_for


class Sink:
    async def publish(self, topic: str, key: bytes, value: bytes, headers: Any = None) -> None:
        return None


async def test_processor_counts_topic_retries_limiter_waits_and_duplicates(
    redis_client: aioredis.Redis, unique: str
) -> None:
    later = Scripted("later", [RateLimitedError("come back in an hour", retry_after_s=3600)])
    limited = Scripted("limited", [], rate_limits=({"scope": "credential", "limit": 1,
                                                    "period_s": 0.3},))  # fmt: skip
    registry = IntegrationRegistry()
    for integration in (later, limited):
        registry.register(integration)
    metrics = PrometheusMetrics(known=registry.__contains__)
    outputs = Outputs(codec=CODEC, sink=Sink(), topics=TOPICS, worker_id="w1", metrics=metrics)  # type: ignore[arg-type]
    processor = RequestProcessor(
        outputs=outputs,
        executor=Executor(registry, Resolver()),
        resolver=Resolver(),
        idempotency=IdempotencyStore(redis_client, namespace=f"t{unique}", lease_s=0.5),
        limiter=RateLimiter(redis_client, namespace=f"t{unique}"),
        settings=ProcessingSettings(backoff_base_s=0.01, inline_delay_limit_s=1.0),
        worker_id="w1",
        rng=random.Random(7),
        metrics=metrics,
    )
    scheduler = OrderedScheduler(processor.handle, max_in_flight=8, max_buffered=64)
    offsets = itertools.count()

    async def send(request: IntegrationRequest) -> None:
        record = InboundRecord(TOPICS.requests, 0, next(offsets), request.bot_id.encode(),
                               CODEC.encode(request), (), 0)  # fmt: skip
        assert await scheduler.submit(record, lambda: None)

    def request(action: str) -> IntegrationRequest:
        return IntegrationRequest.new(bot_id="bot-1", integration_id=f"script_{action}", config={})

    first = request("limited")
    for req in (request("later"), first, request("limited"), request("limited")):
        await send(req)
    await asyncio.wait_for(scheduler.wait_idle(), 20)
    await send(first)  # a replay of an executed request
    await asyncio.wait_for(scheduler.wait_idle(), 20)

    samples = parse(_exposition(metrics.registry))
    assert value(samples, "actionstream_retries_scheduled_total",
                 integration="script_later", via="topic") == 1  # fmt: skip
    assert value(samples, "actionstream_errors_total",
                 integration="script_later", category="rate_limited") == 1  # fmt: skip
    # Handed to the retry topic: no result yet.
    assert value(samples, "actionstream_requests_total", integration="script_later",
                 status="SUCCEEDED") == 0  # fmt: skip
    # 1 call per 0.3 s: the second and third waited for a slot (at least once each).
    assert value(samples, "actionstream_rate_limit_waits_total", integration="script_limited") >= 2
    assert value(samples, "actionstream_requests_total", integration="script_limited",
                 status="SUCCEEDED") == 3  # fmt: skip
    assert value(samples, "actionstream_duplicates_total", integration="script_limited") == 1
    assert value(samples, "actionstream_requests_total", integration="script_limited",
                 status="DUPLICATE") == 1  # fmt: skip
    await scheduler.drain(1)


def _exposition(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def test_label_values_stay_bounded() -> None:
    metrics = PrometheusMetrics(known={"telegram_send_message"}.__contains__)
    metrics.dead_letter(None, "undecodable")
    metrics.dead_letter("made_up_by_a_client", "no such category")
    metrics.not_executed("telegram_send_message", "expired")
    samples = parse(_exposition(metrics.registry))
    dead = "actionstream_dead_letters_total"
    assert value(samples, dead, integration="unknown", category="undecodable") == 1
    assert value(samples, dead, integration="unknown", category="other") == 1
    assert value(samples, "actionstream_errors_total",
                 integration="telegram_send_message", category="expired") == 1  # fmt: skip


async def test_gauges_are_read_from_the_schedulers_at_scrape_time() -> None:
    release = asyncio.Event()

    async def handler(job: Job) -> None:
        if job.record.key == b"parked":
            await job.park(30)
        else:
            await release.wait()

    scheduler = OrderedScheduler(handler, max_in_flight=4, max_buffered=16)
    stats = CredentialsStats(local_hits=5, redis_hits=2, misses=1, coalesced=3)
    metrics = PrometheusMetrics()
    limits = {"max_in_flight": 4, "max_parked": 1_000, "max_buffered_bytes": 1 << 20}
    metrics.watch(RuntimeCollector({"requests": scheduler}, stats, lambda: 2, limits))
    keys = (b"busy-1", b"busy-2", b"parked", b"busy-1")
    for offset, key in enumerate(keys):
        record = InboundRecord("requests", 0, offset, key, b"1234", (), 0)
        assert await scheduler.submit(record, lambda: None)
    await asyncio.sleep(0.05)

    samples = parse(_exposition(metrics.registry))
    at = {"topic": "requests"}
    assert value(samples, "actionstream_in_flight", **at) == 2  # the busy lanes' heads
    assert value(samples, "actionstream_parked_bots", **at) == 1
    assert value(samples, "actionstream_buffered_bytes", **at) == sum(len(k) + 4 for k in keys)
    assert value(samples, "actionstream_limit", limit="max_in_flight", **at) == 4
    assert value(samples, "actionstream_integrations_unavailable") == 2
    cache = "actionstream_credentials_cache_total"
    assert [value(samples, cache, result=r) for r in ("local_hit", "redis_hit", "miss",
                                                      "coalesced")] == [5, 2, 1, 3]  # fmt: skip
    release.set()
    await scheduler.drain(1)
