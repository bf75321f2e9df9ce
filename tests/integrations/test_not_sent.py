"""Failures known to happen before a byte left are "not executed", on both HTTP paths.

Over real loopback sockets: a closed port (refused), a server that answers the TLS handshake
with garbage, a pool whose only connection is busy (pool timeout). The counter-case, a server
that reads the request and hangs up without answering, may have executed it. The httpx path is
every HTTP integration's (integrations/http.py, classified by integrations/outcome.py); the
aiohttp path is Telegram's (integrations/telegram/aiohttp_request.py, mapped by its client). Both
pass the processor's send gate first, and a closed gate stops the request before it leaves.
DNS failures raise the same exception classes as a refused connection (httpx.ConnectError,
aiohttp.ClientConnectorDNSError, a ClientConnectorError); they are covered by class below,
since a real lookup would leave loopback.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import pytest
from telegram.error import TelegramError
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from integrations.context import RequestContext, SendRefusedError, executing
from integrations.http import HttpClients
from integrations.outcome import classify
from integrations.telegram.aiohttp_request import AiohttpRequest, _WriteNow
from integrations.telegram.client import map_telegram_error

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def garbage_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)  # the ClientHello
    writer.write(b"HTTP/1.1 400 this is not TLS\r\n\r\n")
    await writer.drain()
    writer.close()


async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)  # takes the request, never answers
    await asyncio.sleep(5)
    writer.close()


async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)  # the request arrived: it may have been acted on
    writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Behaviour], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: Behaviour) -> int:
        server = await asyncio.start_server(behaviour, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def httpx_failure(url: str, *, busy_first: bool = False) -> BaseException:
    timeout = httpx.Timeout(2.0, pool=0.2)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=timeout) as c:
        busy = asyncio.create_task(c.post(url, json={"n": 0})) if busy_first else None
        await asyncio.sleep(0.1)
        try:
            await c.post(url, json={"n": 1})
        except httpx.HTTPError as exc:
            return exc
        finally:
            if busy is not None:
                busy.cancel()
                await asyncio.gather(busy, return_exceptions=True)
    raise AssertionError("the request did not fail")


async def aiohttp_failure(url: str, *, busy_first: bool = False) -> BaseException:
    request = AiohttpRequest(
        connection_pool_size=1, connect_timeout=1.0, read_timeout=2.0, write_timeout=2.0,
        media_write_timeout=2.0, pool_timeout=0.2,
    )  # fmt: skip
    await request.initialize()
    busy = None
    try:
        if busy_first:
            busy = asyncio.create_task(request.do_request(url, "POST"))
            await asyncio.sleep(0.1)
        try:
            await request.do_request(url, "POST")
        except TelegramError as exc:
            return map_telegram_error(exc, method="sendMessage")
    finally:
        if busy is not None:
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
        await request.shutdown()
    raise AssertionError("the request did not fail")


PATHS = {"httpx": httpx_failure, "aiohttp": aiohttp_failure}


@pytest.mark.parametrize("path", PATHS)
async def test_connection_refused_is_not_executed(path: str) -> None:
    exc = await PATHS[path](f"http://127.0.0.1:{closed_port()}/x")
    assert classify(exc).maybe_executed is False, exc


@pytest.mark.parametrize("path", PATHS)
async def test_a_failed_tls_handshake_is_not_executed(path: str, serve: Any) -> None:
    port = await serve(garbage_tls)
    exc = await PATHS[path](f"https://127.0.0.1:{port}/x")
    assert classify(exc).maybe_executed is False, exc


@pytest.mark.parametrize("path", PATHS)
async def test_waiting_for_a_pooled_connection_is_not_executed(path: str, serve: Any) -> None:
    port = await serve(hold_open)
    exc = await PATHS[path](f"http://127.0.0.1:{port}/x", busy_first=True)
    assert classify(exc).maybe_executed is False, exc


@pytest.mark.parametrize("path", PATHS)
async def test_a_hang_up_after_the_request_was_read_may_have_executed(
    path: str, serve: Any
) -> None:
    port = await serve(read_then_hang_up)
    exc = await PATHS[path](f"http://127.0.0.1:{port}/x")
    assert classify(exc).maybe_executed is True, exc


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno -2] Name or service not known"),
        aiohttp.ClientConnectorDNSError(
            aiohttp.client_reqrep.ConnectionKey("no.such.host", 443, True, True, None, None, None),
            OSError(-2, "Name or service not known"),
        ),
    ],
)
def test_dns_failures_are_not_executed(exc: BaseException) -> None:
    from telegram.error import NetworkError

    if isinstance(exc, aiohttp.ClientError):
        wrapped = NetworkError(str(exc))
        wrapped.__cause__ = exc
        exc = map_telegram_error(wrapped, method="sendMessage")
    assert classify(exc).maybe_executed is False


async def httpx_post(url: str) -> None:
    clients = HttpClients()  # the worker's clients, with the gate in their request hook
    try:
        await clients.client("svc", url).post(url, json={"n": 1})
    finally:
        await clients.aclose()


async def aiohttp_post(url: str) -> None:
    request = AiohttpRequest(
        connection_pool_size=1, connect_timeout=1.0, read_timeout=2.0, write_timeout=2.0,
        media_write_timeout=2.0, pool_timeout=0.2,
    )  # fmt: skip
    await request.initialize()
    try:
        await request.do_request(url, "POST")
    finally:
        await request.shutdown()


SENDS = {"httpx": httpx_post, "aiohttp": aiohttp_post}


class ClosedGate:
    """A send gate that refuses; it notes whether the server had accepted a connection by then."""

    def __init__(self, accepted: list[object]) -> None:
        self.accepted = accepted
        self.connected_when_asked: bool | None = None

    async def __call__(self, send: Callable[[], None] | None = None) -> bool:
        await asyncio.sleep(0.05)  # a Redis round trip: the server has accepted any connection
        self.connected_when_asked = bool(self.accepted)
        raise SendRefusedError("not sent: the lease ran out before the request could leave")


@pytest.mark.parametrize("path", ["httpx", "aiohttp"])
async def test_a_closed_send_gate_stops_the_request_before_it_leaves(path: str, serve: Any) -> None:
    # The processor's gate (processors/send_gate.py) refuses: no claim, or a lease gone. httpx
    # asks it before taking a connection; the Telegram backend as the request is written to the
    # connection it holds, so a claim is not held while the request waits for one.
    arrived: list[bytes] = []
    accepted: list[object] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        arrived.append(await reader.read(65536))
        writer.close()

    url = f"http://127.0.0.1:{await serve(record)}/x"
    context = RequestContext(
        request_id="r-1", bot_id="bot-1", idempotency_key="r-1", gate=(gate := ClosedGate(accepted))
    )
    with executing(context), pytest.raises(Exception) as caught:  # noqa: PT011 - checked below
        await SENDS[path](url)
    chain: list[BaseException] = []
    exc: BaseException | None = caught.value
    while exc is not None:  # PTB and aiohttp wrap it; the refusal is at the bottom
        chain.append(exc)
        exc = exc.__cause__
    assert any(isinstance(e, SendRefusedError) for e in chain), chain
    await asyncio.sleep(0.1)
    assert arrived in ([], [b""]), arrived  # no byte of the request
    assert gate.connected_when_asked is (path == "aiohttp")


class GrantingGate:
    """A gate that grants, sending the request itself as the claim's reply step would
    (processors/send_gate.py), then waits for the server to have the whole request."""

    def __init__(self, arrived: asyncio.Event) -> None:
        self.arrived = arrived

    async def __call__(self, send: Callable[[], None] | None = None) -> bool:
        assert send is not None, "the Telegram backend offers to send a form in the gate's step"
        send()
        await asyncio.wait_for(self.arrived.wait(), 2.0)  # it left before the gate returned
        return True


async def test_the_telegram_backend_sends_a_form_in_the_step_that_grants_the_claim(
    serve: Any,
) -> None:
    # No task switch between the claim's reply and the request leaving: a worker killed in
    # between would leave an "unknown" outcome for a request that never left.
    got, arrived = asyncio.Event(), bytearray()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        assert length is not None
        arrived.extend(head + await reader.readexactly(int(length[1])))
        got.set()
        body = b'{"ok": true, "result": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    url = f"http://127.0.0.1:{await serve(answer)}/sendMessage"
    context = RequestContext(
        request_id="r-1", bot_id="bot-1", idempotency_key="r-1", gate=GrantingGate(got)
    )
    request = AiohttpRequest(
        connection_pool_size=1, connect_timeout=1.0, read_timeout=2.0, write_timeout=2.0,
        media_write_timeout=2.0, pool_timeout=0.2,
    )  # fmt: skip
    await request.initialize()
    data = RequestData(
        [RequestParameter.from_input(k, v) for k, v in (("chat_id", 7), ("text", "hi there"))]
    )
    try:
        with executing(context):
            status, payload = await request.do_request(url, "POST", request_data=data)
    finally:
        await request.shutdown()
    assert status == 200
    assert payload == b'{"ok": true, "result": true}'
    assert arrived.endswith(b"\r\n\r\nchat_id=7&text=hi+there")


class _Writer:
    """A stream writer double whose write waits first (as with a trace hook) or fails."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.written: list[bytes] = []

    async def write(self, data: bytes, *, drain: bool = True) -> None:
        if self.fail:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        await asyncio.sleep(0)
        self.written.append(data)


async def test_a_write_that_would_wait_is_left_to_the_caller_and_a_failure_is_kept() -> None:
    waits = _Writer()
    now = _WriteNow(waits, b"body")
    now()
    assert (now.done, now.error, waits.written) == (False, None, [])  # nothing written yet
    now = _WriteNow(_Writer(fail=True), b"body")
    now()  # never raises: the request's own task does
    assert not now.done
    assert isinstance(now.error, aiohttp.ClientConnectionResetError)
