"""Scenario 2, the naive baseline: a plain Faust agent written the way Faust's docs show.

``async for`` over the stream, decode, call the integration (the same no-op as scenario 3),
``await topic.send(result)``: one event at a time, Faust acking and committing as it likes. No
idempotency, no rate limits, no ordering guarantees beyond Faust's own. Configured by the
environment (``BENCH_GROUP``, ``BENCH_REQUESTS``, ``BENCH_RESULTS``, and the worker's
``ACTIONSTREAM_KAFKA__*`` connection) and run as its own worker process:
``python -m benchmarks.naive_app``.
"""

from __future__ import annotations

import os
from typing import Any

import faust

from benchmarks.noop_integration import BenchNoopIntegration, StaticResolver, result_of
from integrations.bot_logger import BotLogger
from processors.app import broker_credentials, broker_url
from processors.settings import Settings
from schemas import AvroCodec, utc_now

WORKER_ID = "bench-naive"

KAFKA = Settings().kafka
app = faust.App(
    os.environ.get("BENCH_GROUP", "bench-naive"),
    broker=broker_url(KAFKA.bootstrap_servers),
    broker_credentials=broker_credentials(KAFKA),
    store="memory://",
    autodiscover=False,
    web_enabled=False,  # several benchmark workers may run at once: no fixed web port
    topic_disable_leader=True,
    topic_allow_declare=False,  # the benchmark creates (and deletes) the topics
    consumer_auto_offset_reset="earliest",
)
requests_topic = app.topic(
    os.environ.get("BENCH_REQUESTS", "bench.requests"), key_serializer="raw", value_serializer="raw"
)
results_topic = app.topic(
    os.environ.get("BENCH_RESULTS", "bench.results"), key_serializer="raw", value_serializer="raw"
)

codec = AvroCodec()
integration = BenchNoopIntegration()
resolver = StaticResolver("bench-static-token")
logger = BotLogger("benchmarks.naive")


@app.agent(requests_topic)
async def execute(stream: Any) -> None:
    async for key, value in stream.items():
        request = codec.decode_request(value)
        received_at = utc_now()
        envelope = await integration.execute(
            request.config_dict(), resolver, request.bot_id, logger
        )
        result = result_of(
            request, envelope, received_at=received_at, finished_at=utc_now(), worker_id=WORKER_ID
        )
        await results_topic.send(key=key, value=codec.encode(result))


if __name__ == "__main__":
    faust.Worker(app, loglevel="info").execute_from_commandline()
