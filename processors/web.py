"""The worker's HTTP endpoints, on Faust's web server (``ACTIONSTREAM_WORKER__WEB_PORT``).

* ``GET /metrics``: Prometheus text format, from a registry of this worker's own (see
  :mod:`processors.metrics`);
* ``GET /healthz``: the process answers (200): for a liveness probe;
* ``GET /readyz``: 200 when the consumer has joined its group, Kafka answers a metadata request
  and Redis answers a PING; otherwise 503. The JSON body gives each check with ``ok`` and a
  ``detail``, so a failing probe says what failed.

:func:`install_web` also hands Faust the worker's logging configuration (JSON or console, see
:mod:`processors.logs`): the app is the only thing Faust reads it from before it sets up logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import faust
import mode
from aiokafka.client import AIOKafkaClient
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from redis.exceptions import AuthenticationError

from integrations.redis_types import RedisClient
from processors.app import ActionstreamApp
from processors.metrics import ConsumerLagCollector
from processors.redis_client import make_client, unwrap
from processors.runtime import Runtime
from processors.settings import RedisSettings, Settings
from topics.connection import Brokers, bootstrap_of, client_options, diagnose

log = logging.getLogger("actionstream.web")

PROBE_TIMEOUT_S = 2.0


class RuntimeHolder(Protocol):
    """The worker's :class:`~processors.worker.RuntimeService`, as the endpoints use it."""

    @property
    def started(self) -> bool: ...

    @property
    def runtime(self) -> Runtime: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check's answer."""

    ok: bool
    detail: str


class KafkaProbe:
    """Asks the brokers for cluster metadata over a client of its own (lazily connected)."""

    def __init__(self, brokers: Brokers, *, client_id: str = "actionstream-probe") -> None:
        self._brokers = brokers
        self._client_id = client_id
        self._client: Any = None

    async def check(self, timeout_s: float = PROBE_TIMEOUT_S) -> Check:
        try:
            async with asyncio.timeout(timeout_s):
                if self._client is None:
                    client = AIOKafkaClient(
                        **client_options(self._brokers),
                        client_id=self._client_id,
                        request_timeout_ms=int(timeout_s * 1000),
                    )
                    self._client = client
                    await client.bootstrap()
                metadata = await self._client.fetch_all_metadata()
        except Exception as exc:  # unreachable, timed out, refused: all mean "not ready"
            await self.aclose()  # start from a fresh client next time
            # aiokafka says only "Unable to bootstrap": find out which setting is wrong (not
            # after a timeout: that is the answer, and asking again would double the wait).
            if not isinstance(exc, TimeoutError):
                reason = await diagnose(self._brokers, timeout_s=timeout_s)
                if reason is not None:
                    return Check(False, reason)
            where = bootstrap_of(self._brokers)
            return Check(False, f"kafka {where} unreachable: {_describe(exc)}")
        return Check(True, f"{len(metadata.brokers())} broker(s) answered")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


class RedisProbe:
    """PINGs Redis over a small client of its own, so a busy worker pool does not fail it."""

    def __init__(self, redis: RedisSettings) -> None:
        self._settings = redis
        self._client: RedisClient | None = None

    async def check(self, timeout_s: float = PROBE_TIMEOUT_S) -> Check:
        if self._client is None:
            self._client = make_client(
                self._settings,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                max_connections=2,
            )
        try:
            async with asyncio.timeout(timeout_s):
                await self._client.ping()
        except Exception as caught:
            exc = unwrap(caught)
            if isinstance(exc, AuthenticationError):
                return Check(False, f"redis refused ACTIONSTREAM_REDIS__USERNAME/PASSWORD: {exc}")
            return Check(False, f"redis unreachable: {_describe(exc)}")
        return Check(True, "PING answered")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Readiness(mode.Service):
    """The /readyz checks; a dependency of the app, so its probe clients close with it."""

    def __init__(self, app: faust.App, service: RuntimeHolder, settings: Settings) -> None:
        super().__init__()
        self._app = app
        self._service = service
        self.kafka = KafkaProbe(settings.kafka, client_id=f"{settings.kafka.client_id}-probe")
        self.redis = RedisProbe(settings.redis)
        self.joined = False
        self.assigned = 0
        self._last_ready: bool | None = None

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            # Faust sends on_partitions_assigned(sender, assigned, signal=...).
            self.joined = True
            self.assigned = len(args[0]) if args else 0

        # mode's handler type (a mypy_extensions callable) matches no plain def.
        app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    def consumer(self) -> Check:
        if not self._service.started:
            return Check(False, "the worker runtime has not started")
        if not self.joined:
            return Check(False, "the consumer has not joined its group yet")
        rebalancing = " (rebalancing)" if self._app.rebalancing else ""
        return Check(True, f"joined; {self.assigned} partition(s) assigned{rebalancing}")

    async def checks(self) -> dict[str, Check]:
        """Run every check (the network ones concurrently); logs when readiness changes."""
        kafka, redis = await asyncio.gather(self.kafka.check(), self.redis.check())
        checks = {"consumer": self.consumer(), "kafka": kafka, "redis": redis}
        ready = all(check.ok for check in checks.values())
        if ready != self._last_ready:
            failed = "; ".join(f"{n}: {c.detail}" for n, c in checks.items() if not c.ok)
            log.info("worker %s", "ready" if ready else f"not ready: {failed}")
            self._last_ready = ready
        return checks

    async def on_stop(self) -> None:
        await self.kafka.aclose()
        await self.redis.aclose()


class _RuntimeMetrics(Collector):
    """The runtime's own registry, once the runtime exists (it is built when the worker starts)."""

    def __init__(self, service: RuntimeHolder) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        if self._service.started:
            yield from self._service.runtime.metrics.registry.collect()


def worker_registry(app: faust.App, service: RuntimeHolder) -> CollectorRegistry:
    """What ``/metrics`` serves: the runtime's metrics and the consumer's lag."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RuntimeMetrics(service))
    registry.register(ConsumerLagCollector(lambda: app.consumer))
    return registry


def install_web(app: ActionstreamApp, service: RuntimeHolder) -> Readiness:
    """Add /metrics, /healthz and /readyz to the app's web server."""
    settings = app.actionstream_settings
    registry = worker_registry(app, service)
    readiness = Readiness(app, service, settings)
    app.add_dependency(readiness)

    async def metrics(view: View, request: Request) -> Response:
        # The format the scraper asks for (Prometheus text, or OpenMetrics).
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return view.bytes(encode(registry), headers={"Content-Type": content_type})

    async def healthz(view: View, request: Request) -> Response:
        return view.json({"status": "ok", "worker_id": settings.worker.id})

    async def readyz(view: View, request: Request) -> Response:
        checks = await readiness.checks()
        ready = all(check.ok for check in checks.values())
        body = {"ready": ready, "checks": {name: asdict(c) for name, c in checks.items()}}
        return view.json(body, status=200 if ready else 503)

    for path, handler in (("/metrics", metrics), ("/healthz", healthz), ("/readyz", readyz)):
        app.page(path, name=f"actionstream{path.replace('/', '-')}")(handler)
    return readiness
