"""Start a worker: the Faust app, its intake of the requests and retry topics, the runtime."""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Callable
from typing import Any

import faust
import mode

from integrations import spans
from processors.app import ActionstreamApp, create_app
from processors.intake import record_of
from processors.logs import configure_worker_logging
from processors.ordering import OrderedScheduler
from processors.records import InboundRecord
from processors.runtime import Runtime
from processors.settings import Settings
from processors.web import install_web

log = logging.getLogger("actionstream.worker")


class RuntimeService(mode.Service):
    """Opens the :class:`Runtime` when the app starts and closes it after the agents stopped.

    Added as the app's first dependency, so it starts before the agents and stops after them.
    """

    def __init__(self, app: faust.App, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._app = app
        self._settings = settings
        self._runtime: Runtime | None = None

    @property
    def started(self) -> bool:
        return self._runtime is not None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the worker runtime is not started yet")
        return self._runtime

    async def on_start(self) -> None:
        configure_worker_logging()
        self._runtime = await Runtime.open(self._settings, self._app.producer)

    async def on_stop(self) -> None:
        if self._runtime is not None:
            await self._runtime.aclose()
            self._runtime = None


def build_worker_app(settings: Settings) -> tuple[ActionstreamApp, RuntimeService]:
    """The app consuming the requests and retry topics into the runtime's schedulers."""
    app = create_app(settings)
    service = RuntimeService(app, settings)
    app.add_dependency(service)
    install_web(app, service)

    async def drain(timeout_s: float) -> int:
        return await service.runtime.drain(timeout_s) if service.started else 0

    async def revoke(partitions: set[tuple[str, int]], grace_s: float) -> int:
        return await service.runtime.revoke(partitions, grace_s) if service.started else 0

    app.on_drain(drain, revoke)
    for name in (settings.topics.requests, settings.topics.retry):
        if settings.worker.intake == "batch":
            _batch_intake(app, service, name)
        else:
            _agent(app, service, name)
    return app, service


class SchedulerIntake:
    """The batch intake's handler of one topic: that topic's scheduler, once the runtime runs."""

    def __init__(self, service: RuntimeService, topic: str) -> None:
        self._service = service
        self._topic = topic

    async def _scheduler(self) -> OrderedScheduler:
        if not self._service.started:
            await self._service.maybe_start()
        return self._service.runtime.schedulers[self._topic]

    async def submit(self, record: InboundRecord, ack: Callable[[], object]) -> bool:
        return await (await self._scheduler()).submit(record, ack)

    def skip(self, record: InboundRecord, ack: Callable[[], object]) -> None:
        # Records are only fetched after the runtime started (it is the app's first dependency).
        self._service.runtime.schedulers[self._topic].skip(record, ack)

    def finished_from(self, tp: tuple[str, int], offset: int) -> list[int]:
        if not self._service.started:
            return []
        return self._service.runtime.schedulers[self._topic].finished_from(tp, offset)


def _batch_intake(app: ActionstreamApp, service: RuntimeService, topic_name: str) -> None:
    # Subscribed through Faust's conductor like an agent's topic, but the consumer hands its
    # records to our scheduler a fetched batch at a time (processors/intake.py).
    app.topics.add(app.topic(topic_name, key_serializer="raw", value_serializer="raw"))
    app.intake.route(topic_name, SchedulerIntake(service, topic_name))


def _agent(app: ActionstreamApp, service: RuntimeService, topic_name: str) -> None:
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def consume(stream: faust.StreamT[bytes]) -> None:
        # Acks are the scheduler's: it releases them in offset order, for the contiguous
        # finished prefix of each partition (see processors/ordering.py).
        await service.maybe_start()
        scheduler = service.runtime.schedulers[topic_name]
        async for event in stream.noack().events():  # type: ignore[attr-defined]  # not in StreamT
            if not await scheduler.submit(record_of(event.message), event.ack):
                break  # draining: leave the rest unacked, Kafka redelivers it

    app.agent(topic, name=f"actionstream:{topic_name}")(consume)


def run_worker(settings: Settings) -> None:
    """Run the worker in the foreground until SIGINT/SIGTERM."""
    if spans.configure_from_environment():
        log.info("exporting spans over OTLP (OTEL_* variables)")
    app, _ = build_worker_app(settings)
    tune_gc(settings.worker.gc_threshold)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(count: int) -> bool:
    """Let glibc's malloc use at most ``count`` arenas; ``False`` where it cannot (not glibc).

    Call it before the process starts threads (the CLI does, first thing): an arena made
    before stays. The worker allocates from its event loop's thread, but every other thread
    that allocates (the executor's DNS look-ups and file reads) gets an arena of its own and
    keeps the pages it freed: at 10,000 requests in flight that was about 15 MiB of RSS.
    """
    if count <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_ARENA_MAX, count))


def tune_gc(threshold: int) -> None:
    """Collect young objects less often, and never re-scan what start-up allocated.

    With Python's defaults a worker spent about 30 % of its CPU in the cyclic garbage
    collector (benchmark scenario 3): each request allocates many short-lived containers while
    thousands of records sit in the buffer, so generation 0 filled every few requests and the
    full collections walked every module, class and schema loaded at start-up. Reference
    counting still frees almost everything at once; the collector only finds cycles.
    """
    if threshold <= 0:
        return
    _, older, oldest = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, older, oldest)
