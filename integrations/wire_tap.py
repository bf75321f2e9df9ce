"""What reached a fake server's socket, byte for byte, whether or not its handler ever ran.

aiohttp's server drops a request it has received but not yet dispatched when the client's
connection closes (``RequestHandler.connection_lost`` force-closes the connection, and the
queued message is never handled), and cancels one whose body it is still reading. A client
killed right after it wrote a request thus leaves no trace in the fake's ``calls``, although
the request did leave it: a real provider may well have acted on it. Tests that ask "did this
request reach the provider?" (the kill -9 tests' "unknown but never sent" count) read the wire
instead: :class:`TappedSite` keeps each connection's bytes, and :func:`wire_requests` splits
them into requests, the last one possibly cut short.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One request as its bytes arrived: ``complete`` is False when the body was cut short."""

    request_line: str
    headers: dict[str, str]
    body: bytes
    complete: bool


class _Tap(asyncio.Protocol):
    """Forwards everything to the server's own protocol, keeping a copy of the bytes read."""

    def __init__(self, inner: asyncio.Protocol, wire: bytearray) -> None:
        self._inner = inner
        self._wire = wire

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._wire.extend(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class TappedSite(web.SockSite):
    """A ``SockSite`` whose connections keep what they read, one ``bytearray`` each in ``wire``."""

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, *, wire: list[bytearray], **kw: Any
    ) -> None:
        super().__init__(runner, sock, **kw)
        self._wire = wire

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner (stopped on cleanup)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.Protocol:
            self._wire.append(bytearray())
            return _Tap(server(), self._wire[-1])

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )


def wire_requests(connections: list[bytearray]) -> list[WireRequest]:
    """Every request (HTTP/1.1, ``Content-Length`` bodies) in the bytes of each connection."""
    found: list[WireRequest] = []
    for raw in connections:
        data, at = bytes(raw), 0
        while at < len(data):
            head_end = data.find(b"\r\n\r\n", at)
            if head_end < 0:  # cut short inside the headers
                line = data[at:].split(b"\r\n", 1)[0].decode("latin-1")
                found.append(WireRequest(line, {}, b"", complete=False))
                break
            lines = data[at:head_end].decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (h.partition(":") for h in lines[1:])
            }
            length = int(headers.get("content-length", "0") or 0)
            body = data[head_end + 4 : head_end + 4 + length]
            found.append(WireRequest(lines[0], headers, body, complete=len(body) == length))
            at = head_end + 4 + length
    return found
