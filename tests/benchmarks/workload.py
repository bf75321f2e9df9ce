"""One run's plumbing: fresh topics and settings, publishing (burst or paced), reading results.

The driver publishes with the real :class:`~topics.publisher.RequestPublisher` and, while a
processor works, only polls the results topic's end offsets (cheap), so it takes as little CPU
as possible from the process being measured; results are read and decoded after the fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from benchmarks.procs import BenchError, Proc
from integrations.credentials import generate_key
from processors.settings import (
    CredentialsSettings,
    IntegrationSettings,
    KafkaSettings,
    ProcessingSettings,
    RedisSettings,
    Settings,
    TelegramSettings,
    TopicSettings,
    WorkerSettings,
)
from schemas import AvroCodec, IntegrationRequest, IntegrationResult
from topics.admin import TopicAdmin
from topics.catalogue import catalogue
from topics.connection import client_options
from topics.publisher import RequestPublisher

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def unique_id() -> str:
    return uuid.uuid4().hex[:10]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(
    unique: str,
    *,
    kafka: KafkaSettings,
    redis_url: str,
    workdir: Path,
    partitions: int,
    telegram: tuple[str, str] | None = None,
) -> Settings:
    """A worker's settings for one run: its own topics, group, credentials file and key.

    Everything else keeps the production defaults (max_in_flight 256, commit interval 1 s, log
    level INFO, local credentials TTL 5 s); only the idempotency records' TTL is shortened, so
    benchmark runs do not leave a week of keys in the shared Redis.
    """
    prefix = f"bench.{unique}"
    return Settings(
        dev_mode=False,
        kafka=kafka.model_copy(update={"consumer_group": f"bench-{unique}"}),
        redis=RedisSettings(url=redis_url),
        topics=TopicSettings(
            requests=f"{prefix}.requests",
            results=f"{prefix}.results",
            retry=f"{prefix}.retry",
            dlq=f"{prefix}.dlq",
            commands=f"{prefix}.commands",
            partitions=partitions,
        ),
        credentials=CredentialsSettings(
            source="file",
            file_path=workdir / "credentials.json",
            encryption_key=SecretStr(generate_key()),
        ),
        integrations=IntegrationSettings(extra_modules=["benchmarks.noop_integration"]),
        worker=WorkerSettings(id=f"bench-{unique}", web_port=free_port()),
        processing=ProcessingSettings(idempotency_ttl_s=900.0),
        # An unset TelegramSettings() adds nothing to the worker's environment.
        telegram=(
            TelegramSettings(base_url=telegram[0], base_file_url=telegram[1])
            if telegram
            else TelegramSettings()
        ),
    )


def topic_names(settings: Settings) -> list[str]:
    t = settings.topics
    return [t.requests, t.results, t.retry, t.dlq]


async def create_topics(settings: Settings) -> None:
    async with TopicAdmin(settings.kafka) as admin:
        await admin.apply(catalogue(settings.topics))


async def delete_topics(settings: Settings) -> None:
    """Best effort: a leftover topic is clutter, not a wrong number."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    with contextlib.suppress(Exception):
        await admin.start()
        await admin.delete_topics(topic_names(settings))
    with contextlib.suppress(Exception):
        await admin.close()


def write_credentials(path: Path, tokens: dict[str, str]) -> None:
    """Every bot gets its token for both the no-op ("bench") and Telegram providers."""
    data = {
        bot: {"bench": {"api_key": {"token": tok}}, "telegram": {"api_key": {"token": tok}}}
        for bot, tok in tokens.items()
    }
    path.write_text(json.dumps(data))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency_summary(latencies_ms: Sequence[float], rate: float | None = None) -> dict[str, Any]:
    return {
        "p50_ms": percentile(latencies_ms, 50),
        "p99_ms": percentile(latencies_ms, 99),
        "max_ms": max(latencies_ms) if latencies_ms else math.nan,
        "n": len(latencies_ms),
        "rate_per_s": rate,
    }


class Driver:
    """Publishes a run's requests, remembering each one's phase, and reads its results."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = AvroCodec()
        self.publisher = RequestPublisher.from_settings(settings)
        self.requests: dict[uuid.UUID, IntegrationRequest] = {}
        self.phase: dict[uuid.UUID, str] = {}
        self.order: list[IntegrationRequest] = []  # publish order
        self._connection = client_options(settings.kafka)
        self._offsets = AIOKafkaConsumer(**self._connection, group_id=None)

    async def __aenter__(self) -> Driver:
        await self.publisher.start()
        await self._offsets.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._offsets.stop()
        await self.publisher.stop()

    def build(
        self,
        bot_id: str,
        integration_id: str,
        config: dict[str, Any],
        *,
        ordering_key: str | None = None,
    ) -> IntegrationRequest:
        return self.publisher.build(bot_id, integration_id, config, ordering_key=ordering_key)

    async def publish(self, phase: str, requests: Sequence[IntegrationRequest]) -> None:
        """Send in order and wait until the broker has them all."""
        for request in requests:
            self.requests[request.request_id] = request
            self.phase[request.request_id] = phase
        self.order.extend(requests)
        await self.publisher.send_many(requests)

    async def paced(
        self, phase: str, make: Callable[[int], IntegrationRequest], count: int, rate: float
    ) -> None:
        """Publish ``count`` requests at ``rate`` per second, each built when it is due."""
        start = time.monotonic()
        sent = 0
        while sent < count:
            due = min(count, int((time.monotonic() - start) * rate) + 1)
            await self.publish(phase, [make(i) for i in range(sent, due)])
            sent = due
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))

    def of_phase(self, phase: str) -> list[uuid.UUID]:
        return [rid for rid, p in self.phase.items() if p == phase]

    def _partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(self.settings.topics.partitions)]

    async def count(self, topic: str) -> int:
        ends = await self._offsets.end_offsets(self._partitions(topic))
        return sum(ends.values())

    async def wait_results(
        self, total: int, *, timeout_s: float, watch: Iterable[Proc] = ()
    ) -> None:
        """Poll the results topic's end offsets until it holds ``total`` records."""
        topic = self.settings.topics.results
        deadline = time.monotonic() + timeout_s
        have = 0
        while time.monotonic() < deadline:
            have = await self.count(topic)
            if have >= total:
                return
            for proc in watch:
                proc.check_alive()
            await asyncio.sleep(0.05)
        logs = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in watch)
        raise BenchError(f"{topic}: {have} of {total} results after {timeout_s:.0f}s\n{logs}")

    async def read_all(self, topic: str) -> list[Record]:
        """Every record of ``topic``, partition by partition in offset order."""
        # "earliest" as the reset policy rather than seek_to_beginning(), which can lose a race
        # with the "latest" reset that assign() starts.
        consumer = AIOKafkaConsumer(
            **self._connection,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = self._partitions(topic)
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            got: dict[int, list[Record]] = {tp.partition: [] for tp in parts}
            deadline = time.monotonic() + 120
            while any(len(got[tp.partition]) < end for tp, end in ends.items()):
                if time.monotonic() > deadline:
                    have = {p: len(r) for p, r in got.items()}
                    want = {tp.partition: end for tp, end in ends.items()}
                    raise BenchError(f"{topic}: read {have} of {want} records in 120s")
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, records in batch.items():
                    got[tp.partition].extend(records)
        finally:
            await consumer.stop()
        return [r for p in sorted(got) for r in got[p]]

    async def results(self) -> list[IntegrationResult]:
        records = await self.read_all(self.settings.topics.results)
        return [self.codec.decode(IntegrationResult, r.value) for r in records if r.value]


def check_results(
    driver: Driver, results: Sequence[IntegrationResult]
) -> dict[uuid.UUID, IntegrationResult]:
    """Every published request has a result, and all of them SUCCEEDED; else BenchError.

    Returns the first result per request (a redelivery's DUPLICATE never replaces it).
    """
    first: dict[uuid.UUID, IntegrationResult] = {}
    for result in results:
        first.setdefault(result.request_id, result)
    missing = [rid for rid in driver.requests if rid not in first]
    failed = [r for r in first.values() if r.status.value != "SUCCEEDED"]
    strangers = [rid for rid in first if rid not in driver.requests]
    if missing or failed or strangers:
        example = failed[0] if failed else None
        raise BenchError(
            f"{len(driver.requests)} requests: {len(missing)} without a result, {len(failed)} "
            f"not SUCCEEDED, {len(strangers)} results for unknown requests; first failure: "
            f"{example!r}"
        )
    return first


def end_to_end_ms(driver: Driver, result: IntegrationResult) -> float:
    """Publish → result: ``finished_at - created_at``, both from this machine's clock."""
    created = driver.requests[result.request_id].created_at
    return (result.finished_at - created).total_seconds() * 1000
