"""OpenTelemetry spans of one request, with the SDK's in-memory exporter: consumer → attempts
(each with its provider HTTP calls as CLIENT children) and the result's PRODUCER span; the context
the provider and the result's consumers receive is the span's own, and no attribute holds a
secret. An in-process processor over real Redis, and a real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from integrations import spans
from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.errors import TransientError
from integrations.http import HttpClients
from integrations.telegram.aiohttp_request import AiohttpRequest
from support.processing import TOPICS, Harness, request

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Pinging(BaseIntegration):
    """GETs the echo server once per attempt; fails the first ``failures`` attempts."""

    def __init__(self, clients: HttpClients, url: str, failures: int = 0) -> None:
        self.clients, self.url, self.failures = clients, url, failures

    @property
    def metadata(self) -> IntegrationMetadata:
        return IntegrationMetadata(
            id="script_ping", version="2.1.0", name="ping", description="pings",
            category="messaging", config_schema={"type": "object"}, credentials_provider="script",
        )  # fmt: skip

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        creds = await credentials_resolver.get_default_for(
            bot_id=bot_id, provider="script", strategy="api_key"
        )
        client = self.clients.client("echo", self.url)
        await client.get("/ping", params={"key": (creds or {}).get("token", "")})
        if self.failures:
            self.failures -= 1
            raise TransientError("echo: try again")
        return {"response": {"ok": True, "result": {"pong": True}}}


@pytest.fixture
async def clients() -> AsyncIterator[HttpClients]:
    pool = HttpClients()
    try:
        yield pool
    finally:
        await pool.aclose()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    spans.use_tracer_provider(provider)
    try:
        yield memory
    finally:
        spans.use_tracer_provider(None)


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A loopback server recording the ``traceparent`` of every request."""
    seen: list[str | None] = []

    async def handle(req: web.Request) -> web.Response:
        seen.append(req.headers.get("traceparent"))
        return web.json_response({"pong": True})

    app = web.Application()
    app.router.add_get("/ping", handle)
    app.router.add_post("/{path:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def by_name(finished: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name.startswith(prefix)]


async def run_one(
    make: Callable[..., Harness], integration: BaseIntegration, headers: Any
) -> Harness:
    harness = make(integration)
    await harness.send(request("ping"), headers)
    await harness.settle()
    return harness


async def test_a_request_is_one_trace_consumer_attempts_http_and_producer(
    make: Callable[..., Harness],
    exporter: InMemorySpanExporter,
    echo: tuple[str, list[str | None]],
    clients: HttpClients,
) -> None:
    url, seen = echo
    harness = await run_one(
        make, Pinging(clients, url, failures=1), [("traceparent", TRACEPARENT.encode())]
    )
    finished = exporter.get_finished_spans()

    [consumer] = by_name(finished, f"{TOPICS.requests} process")
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None and f"{consumer.parent.span_id:016x}" == PARENT_ID
    assert f"{consumer.context.trace_id:032x}" == TRACE_ID
    assert [f"{link.context.span_id:016x}" for link in consumer.links] == [PARENT_ID]

    attempts = by_name(finished, "execute script_ping")
    assert [a.attributes["actionstream.attempt"] for a in attempts] == [1, 2]
    assert [a.attributes["actionstream.outcome.category"] for a in attempts] == [
        "transient",
        "succeeded",
    ]
    assert {a.attributes["actionstream.integration.version"] for a in attempts} == {"2.1.0"}
    assert all(a.parent and a.parent.span_id == consumer.context.span_id for a in attempts)

    calls = by_name(finished, "HTTP GET")
    assert [c.kind for c in calls] == [SpanKind.CLIENT] * 2
    assert [c.parent.span_id for c in calls if c.parent] == [a.context.span_id for a in attempts]
    assert seen == [traceparent_of(c) for c in calls]  # the provider got the CLIENT span's own

    [producer] = by_name(finished, f"{TOPICS.results} publish")
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None and producer.parent.span_id == consumer.context.span_id
    [(_, headers)] = harness.sink.on(TOPICS.results)
    assert dict(headers)["traceparent"].decode() == traceparent_of(producer)

    # No credential, URL query or path in any attribute.
    attributes = " ".join(str(dict(s.attributes or {})) for s in finished)
    assert "token-of-" not in attributes and "/ping" not in attributes


async def test_without_a_traceparent_the_request_starts_its_own_trace(
    make: Callable[..., Harness],
    exporter: InMemorySpanExporter,
    echo: tuple[str, Any],
    clients: HttpClients,
) -> None:
    url, seen = echo
    harness = await run_one(make, Pinging(clients, url), [])
    [consumer] = by_name(exporter.get_finished_spans(), f"{TOPICS.requests} process")
    assert consumer.parent is None and not consumer.links
    [(_, headers)] = harness.sink.on(TOPICS.results)
    trace = f"{consumer.context.trace_id:032x}"
    assert dict(headers)["traceparent"].decode().split("-")[1] == trace
    assert seen[0] is not None and seen[0].split("-")[1] == trace


async def test_spans_off_change_nothing(
    make: Callable[..., Harness],
    exporter: InMemorySpanExporter,
    echo: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    clients: HttpClients,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    url, seen = echo
    harness = await run_one(make, Pinging(clients, url), [("traceparent", TRACEPARENT.encode())])
    assert exporter.get_finished_spans() == ()
    [(_, headers)] = harness.sink.on(TOPICS.results)
    assert dict(headers)["traceparent"].decode() == TRACEPARENT
    assert seen == [TRACEPARENT]


async def test_telegram_calls_are_client_spans_too_and_keep_the_token_out(
    exporter: InMemorySpanExporter, echo: tuple[str, list[str | None]]
) -> None:
    url, seen = echo
    request = AiohttpRequest(
        connection_pool_size=2, connect_timeout=5, read_timeout=5, write_timeout=5,
        media_write_timeout=5, pool_timeout=5, traceparent=lambda: TRACEPARENT,
    )  # fmt: skip
    try:
        with spans.span("execute telegram_send_message") as parent:
            await request.do_request(f"{url}/bot123:SECRET-token/sendMessage", "POST")
    finally:
        await request.shutdown()
    [call] = by_name(exporter.get_finished_spans(), "HTTP POST")
    assert call.kind is SpanKind.CLIENT
    assert parent is not None and call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert seen == [traceparent_of(call)]
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 200
    assert "SECRET" not in str(dict(call.attributes))


def test_without_a_tracer_provider_no_span_is_made() -> None:
    # The API alone (no SDK configured): every request skips span work and passes the
    # traceparent through unchanged, as if the extra were not installed.
    assert not spans.enabled()
    with spans.span("nothing") as current:
        assert current is None
        assert spans.own_traceparent() is None
