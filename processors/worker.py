"""Start a worker: build the app from settings, attach the request agent, run until stopped."""

from __future__ import annotations

import logging

import faust

from processors.app import create_app
from processors.settings import Settings

log = logging.getLogger(__name__)


def build_worker_app(settings: Settings) -> faust.App:
    """The app with its agent on the requests topic."""
    app = create_app(settings)
    requests = app.topic(settings.topics.requests, key_serializer="raw", value_serializer="raw")

    @app.agent(requests, name="integration-requests")
    async def handle_requests(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            log.info(
                "request received on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )

    return app


def run_worker(settings: Settings) -> None:
    """Run the worker in the foreground until SIGINT/SIGTERM."""
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()
