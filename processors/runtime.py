"""What a worker holds while it runs: clients, caches, the processor and its schedulers.

Everything is created when the worker starts (inside its event loop) and closed when it stops;
no module-level clients. Tests build the same object with their own settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from integrations.base import BaseIntegration
from integrations.credentials import CredentialsResolver
from integrations.discovery import BUILTIN_SERVICES, discover
from integrations.redis_types import RedisClient
from integrations.registry import IntegrationRegistry
from integrations.resources import Resources
from integrations.tls import tls_verification
from processors.bot_control import BotControl
from processors.call_marks import CallMarks
from processors.control_feed import ControlFeed
from processors.executor import Executor
from processors.idempotency import MARK_SCRIPT, IdempotencyStore
from processors.metrics import PrometheusMetrics, RuntimeCollector
from processors.ordering import OrderedScheduler
from processors.outputs import Outputs
from processors.processor import RequestProcessor
from processors.ratelimit import RateLimiter
from processors.redis_client import make_client, topology
from processors.redis_scripts import ScriptRunner
from processors.settings import Settings
from processors.sink import OutputSink, Producer
from schemas import AvroCodec, SchemaRegistryClient

log = logging.getLogger("actionstream.runtime")


@dataclass
class Runtime:
    """The worker's long-lived parts; :meth:`open` builds them, :meth:`aclose` releases them."""

    settings: Settings
    registry: IntegrationRegistry
    redis: RedisClient
    resolver: CredentialsResolver
    resources: Resources
    codec: AvroCodec
    schema_registry: SchemaRegistryClient | None
    processor: RequestProcessor
    schedulers: dict[str, OrderedScheduler]
    metrics: PrometheusMetrics
    control_feed: ControlFeed
    call_marks: CallMarks | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        producer: Producer,
        *,
        registry: IntegrationRegistry | None = None,
    ) -> Runtime:
        registry = registry if registry is not None else IntegrationRegistry()
        # Logs each unavailable service once, with its install hint.
        discover(registry, (*BUILTIN_SERVICES, *settings.integrations.extra_modules))
        redis = _redis(settings)
        resources = Resources.open(
            settings.integrations, settings.telegram, own_hosts=own_hosts(settings)
        )
        resolver = CredentialsResolver.from_settings(
            settings.credentials, redis, dev_mode=settings.dev_mode,
            oauth_client=resources.http.token_client(), token_urls=resources.http.token_urls(),
        )  # fmt: skip
        metrics = PrometheusMetrics(known=registry.__contains__)
        for integration in _all_integrations(registry):
            integration.bind(resources)
        schema_registry = _schema_registry(settings)
        codec = await _codec(settings, schema_registry)
        sink = OutputSink(producer)
        outputs = Outputs(
            codec=codec,
            sink=sink,
            topics=settings.topics,
            worker_id=settings.worker.id,
            metrics=metrics,
        )
        processing = settings.processing
        # One batcher: claims and rate-limit slots share pipelines.
        scripts = ScriptRunner(
            redis,
            timeout_s=settings.redis.socket_timeout_s,
            replicas=settings.redis.claim_replicas,
            replicas_timeout_ms=settings.redis.claim_replicas_timeout_ms,
        )
        processor = RequestProcessor(
            outputs=outputs,
            executor=Executor(
                registry,
                resolver,
                max_config_bytes=processing.max_config_bytes,
                max_config_depth=processing.max_config_depth,
            ),
            resolver=resolver,
            idempotency=IdempotencyStore(
                redis,
                lease_s=processing.idempotency_lease_s,
                result_ttl_s=processing.idempotency_ttl_s,
                scripts=scripts,
                marks=(marks := _call_marks(settings, redis)),
            ),
            # Keyed: who can read Redis cannot test guesses of a credential against key names.
            limiter=RateLimiter(
                redis,
                fingerprint_key=resolver.derived_key("ratelimit-fingerprint/v1"),
                scripts=scripts,
            ),
            settings=processing,
            worker_id=settings.worker.id,
            redis_timeout_s=settings.redis.socket_timeout_s,
            metrics=metrics,
            control=(control := BotControl()),
        )
        worker = settings.worker
        schedulers = {
            topic: OrderedScheduler(
                processor.handle,
                max_in_flight=worker.max_in_flight,
                max_in_flight_per_bot=worker.max_in_flight_per_bot,
                max_buffered=max(worker.max_buffered, worker.max_in_flight),
                max_buffered_bytes=worker.max_buffered_bytes,
                max_parked=worker.max_parked,
                name=topic,
                on_crash=processor.crashed,
            )
            for topic in (settings.topics.requests, settings.topics.retry)
        }
        metrics.watch(
            RuntimeCollector(
                schedulers,
                resolver.stats,
                lambda: len(registry.unavailable()),
                limits={
                    "max_in_flight": worker.max_in_flight,
                    "max_parked": worker.max_parked,
                    "max_buffered_bytes": worker.max_buffered_bytes,
                },
                paused_bots=lambda: control.paused_bots,
            )
        )

        def waiting(bot_id: str) -> int:
            held = sum(s.held_records(bot_id.encode()) for s in schedulers.values())
            return max(0, held - len(processor.started(bot_id)))

        feed = ControlFeed(
            settings.kafka, settings.topics.commands, control, sink=sink,
            worker_id=settings.worker.id, started=processor.started, waiting=waiting,
        )  # fmt: skip
        await feed.start()  # before any request: a paused bot stays paused across restarts
        return cls(
            settings, registry, redis, resolver, resources, codec, schema_registry,
            processor, schedulers, metrics, feed, marks,
        )  # fmt: skip

    async def drain(self, timeout_s: float) -> int:
        """Shutdown: stop taking records, finish what runs within ``timeout_s``."""
        abandoned = 0
        for scheduler in self.schedulers.values():
            abandoned += await scheduler.drain(timeout_s)
        return abandoned

    async def revoke(self, partitions: set[tuple[str, int]], grace_s: float) -> int:
        abandoned = 0
        for scheduler in self.schedulers.values():
            abandoned += await scheduler.revoke(partitions, grace_s)
        return abandoned

    async def aclose(self) -> None:
        await self.control_feed.aclose()
        await self.processor.aclose()
        if self.schema_registry is not None:
            await self.schema_registry.aclose()
        await self.resources.aclose()
        await self.resolver.aclose()
        if self.call_marks is not None:
            await self.call_marks.aclose()
        await self.redis.aclose()


def _call_marks(settings: Settings, redis: RedisClient) -> CallMarks | None:
    """Marks written with the request (processors.call_marks), where they can be: one Redis or
    Sentinel, and claims not waited for on replicas."""
    if isinstance(redis, RedisCluster) or settings.redis.claim_replicas > 0:
        return None
    return CallMarks(redis, MARK_SCRIPT, timeout_s=settings.redis.socket_timeout_s)


def _redis(settings: Settings) -> RedisClient:
    """One pooled client, tuned for the hot path (see the bench profile in the README).

    No per-command ``socket_timeout``: redis-py implements it with ``asyncio.wait_for`` (a task
    per command on Python 3.11) plus a timeout context per reply, which together cost more than
    the commands themselves. The processor bounds each of its Redis operations with one
    ``asyncio.timeout`` instead (``ACTIONSTREAM_REDIS__SOCKET_TIMEOUT_S``); calls made by
    integrations through the credentials resolver are bounded by the integration's timeout. A
    plain pool sized above what the worker can have in flight never makes a command wait for a
    connection (the blocking pool's lock and condition were the next cost in the profile).
    """
    return make_client(
        settings.redis,
        max_connections=settings.worker.max_in_flight * 2 + 64,
        socket_timeout=None,
        socket_connect_timeout=settings.redis.socket_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
    )


def own_hosts(settings: Settings) -> list[str]:
    """The hosts of this deployment's own services, which no tenant URL may reach."""
    urls = [settings.credentials.http_url, settings.schema_registry.url]
    kafka = [f"//{server.strip()}" for server in settings.kafka.bootstrap_servers.split(",")]
    hosts = [urlsplit(url).hostname for url in (*urls, *kafka) if url]
    redis = [host for host, _ in topology(settings.redis).addresses]
    return sorted({host for host in (*hosts, *redis) if host})


def _all_integrations(registry: IntegrationRegistry) -> list[BaseIntegration]:
    return [
        registry.entry(integration_id, version).integration
        for integration_id in registry.ids()
        for version in registry.versions(integration_id)
    ]


def _schema_registry(settings: Settings) -> SchemaRegistryClient | None:
    config = settings.schema_registry
    if config.url is None:
        return None
    auth = None
    if config.username and config.password:
        auth = (config.username, config.password.get_secret_value())
    verify = tls_verification(config.ca_file, "ACTIONSTREAM_SCHEMA_REGISTRY__CA_FILE")
    return SchemaRegistryClient(config.url, timeout_s=config.timeout_s, auth=auth, verify=verify)


async def _codec(settings: Settings, client: SchemaRegistryClient | None) -> AvroCodec:
    """Single-object framing by default; Confluent framing once a registry is configured."""
    if client is None:
        return AvroCodec()
    codec = AvroCodec(registry=client)
    topics = settings.topics
    await codec.prepare(
        {
            topics.requests: "integration_request",
            topics.retry: "integration_request",
            topics.results: "integration_result",
            topics.dlq: "dead_letter",
        },
        auto_register=settings.schema_registry.auto_register,
    )
    return codec
