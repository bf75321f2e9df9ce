"""Start a worker: the Faust app, its agent on the requests topic, and the runtime it drives."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
import mode

from processors.app import create_app
from processors.logs import configure_worker_logging
from processors.records import InboundRecord
from processors.runtime import Runtime
from processors.settings import Settings

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


def record_of(event: faust.EventT[Any]) -> InboundRecord:
    message = event.message
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return InboundRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(pairs),
        timestamp_ms=int(message.timestamp * 1000),
    )


def build_worker_app(settings: Settings) -> tuple[faust.App, RuntimeService]:
    """The app with one agent on the requests topic and one on the retry topic."""
    app = create_app(settings)
    service = RuntimeService(app, settings)
    app.add_dependency(service)

    async def drain(timeout_s: float) -> int:
        return await service.runtime.drain(timeout_s) if service.started else 0

    async def revoke(partitions: set[tuple[str, int]], grace_s: float) -> int:
        return await service.runtime.revoke(partitions, grace_s) if service.started else 0

    app.on_drain(drain, revoke)
    for name in (settings.topics.requests, settings.topics.retry):
        _agent(app, service, name)
    return app, service


def _agent(app: faust.App, service: RuntimeService, topic_name: str) -> None:
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

    async def consume(stream: faust.StreamT[bytes]) -> None:
        # Acks are the scheduler's: it releases them in offset order, for the contiguous
        # finished prefix of each partition (see processors/ordering.py).
        await service.maybe_start()
        scheduler = service.runtime.schedulers[topic_name]
        async for event in stream.noack().events():  # type: ignore[attr-defined]  # not in StreamT
            if not await scheduler.submit(record_of(event), event.ack):
                break  # draining: leave the rest unacked, Kafka redelivers it

    app.agent(topic, name=f"actionstream:{topic_name}")(consume)


def run_worker(settings: Settings) -> None:
    """Run the worker in the foreground until SIGINT/SIGTERM."""
    app, _ = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()
