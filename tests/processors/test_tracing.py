"""W3C trace context: a request's ``traceparent`` reaches its result and providers' HTTP calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from integrations.context import RequestContext, executing
from integrations.http import HttpClients
from processors.settings import EndpointSettings
from processors.tracing import parse_traceparent, trace_id
from schemas import AvroCodec, IntegrationResult, ResultStatus
from support.kafka import collect
from support.pipeline import Pipeline

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_traceparent_reaches_the_result_headers_and_telegram(pipeline: Pipeline) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    await pipeline.worker.astart()
    send = "telegram_send_message"
    traced = await pipeline.publisher.publish(
        bot, send, {"chat_id": 1, "text": "traced"}, headers={"traceparent": TRACEPARENT}
    )
    # A malformed value (it comes from whoever published) still travels with the result, but
    # is not put into HTTP headers sent to a provider.
    garbage = "00-not-a-trace-context\r\nX-Injected: 1"
    malformed = await pipeline.publisher.publish(
        bot, send, {"chat_id": 2, "text": "malformed"}, headers={"traceparent": garbage}
    )
    untraced = await pipeline.publisher.publish(bot, send, {"chat_id": 3, "text": "plain"})

    records = await collect(
        pipeline.settings.kafka.bootstrap_servers,
        pipeline.settings.topics.results,
        until=lambda got: len(got) >= 3,
    )
    codec = AvroCodec()
    headers = {
        codec.decode(IntegrationResult, r.value).request_id: dict(r.headers) for r in records
    }
    assert headers[traced]["traceparent"] == TRACEPARENT.encode()
    assert headers[malformed]["traceparent"] == garbage.encode()
    assert "traceparent" not in headers[untraced]
    assert all(
        codec.decode(IntegrationResult, r.value).status is ResultStatus.SUCCEEDED for r in records
    )

    calls = {call.text: call for call in await pipeline.fake.wait_for_messages(3)}
    assert calls["traced"].traceparent == TRACEPARENT
    assert calls["malformed"].traceparent is None
    assert calls["plain"].traceparent is None


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A real HTTP server on loopback that records the headers of every request."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({name.lower(): value for name, value in request.headers.items()})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ping", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_http_clients_send_the_executing_requests_traceparent(
    echo_server: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = echo_server
    clients = HttpClients({"echo": EndpointSettings(base_url=url)})
    client = clients.client("echo", "http://unused.invalid")
    context = RequestContext(
        request_id="r1", bot_id="bot-1", idempotency_key="r1", traceparent=TRACEPARENT
    )
    try:
        with executing(context):
            await client.get("/ping")
        await client.get("/ping")  # outside an execution: nothing to propagate
        with executing(RequestContext(request_id="r2", bot_id="bot-1", idempotency_key="r2")):
            await client.get("/ping")  # a request without a traceparent
    finally:
        await clients.aclose()
    assert [h.get("traceparent") for h in seen] == [TRACEPARENT, None, None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TRACEPARENT.encode(), TRACEPARENT),
        (f" {TRACEPARENT} ", TRACEPARENT),
        # A future version may append fields; version 00 may not.
        (TRACEPARENT.replace("00-", "01-", 1) + "-extra", TRACEPARENT.replace("00-", "01-", 1)
         + "-extra"),
        (TRACEPARENT + "-extra", None),
        (TRACEPARENT.replace("00-", "ff-", 1), None),  # version ff is invalid
        (TRACEPARENT.upper(), None),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),  # all-zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", None),  # all-zero parent
        ("00-abc-def-01", None),
        (b"\xff\xfe", None),
        (None, None),
    ],
)  # fmt: skip
def test_only_a_valid_traceparent_is_accepted(
    raw: bytes | str | None, expected: str | None
) -> None:
    assert parse_traceparent(raw) == expected


def test_trace_id_is_the_second_field() -> None:
    assert trace_id(TRACEPARENT) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id(None) is None
