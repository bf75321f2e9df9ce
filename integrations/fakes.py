"""The shared part of the catalogue's fake services: a real aiohttp server on loopback.

Each ``integrations/<service>/fake.py`` subclasses :class:`FakeServer`, adds its routes in
:meth:`FakeServer.routes` and keeps its own ``RecordedCall``/``Injection`` types and ``inject``
signature; the lifecycle (``async with`` or ``start()``/``close()``), the ``calls`` list, the
injection queue and ``clear()`` live here::

    class FakeThing(FakeServer[RecordedCall, Injection]):
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/v1/thing", self._handle)

        def inject(self, kind: FaultKind, *, times: int | None = 1) -> Injection:
            return self.queue(Injection(kind, times))

        async def _handle(self, request: web.Request) -> web.StreamResponse:
            if (injection := self.take_injection()) is not None:
                ...

The socket is bound here (``SO_REUSEADDR``), so ``port=0`` gives a free port, read back into
``port`` before the server answers; no access log (it would dominate the cost in benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Generic, Protocol, Self, TypeVar

from aiohttp import web

__all__ = ["FakeServer", "Queued"]


class Queued(Protocol):
    """What the injection queue needs of an injection: how many uses are left, and a counter."""

    remaining: int | None  # None: forever
    hits: int


CallT = TypeVar("CallT")
InjectionT = TypeVar("InjectionT", bound=Queued)


class FakeServer(Generic[CallT, InjectionT]):
    """A fake HTTP service on ``host:port`` (port 0: a free one), started by ``async with``."""

    #: ``listen()`` backlog of the socket (aiohttp's default: 128).
    backlog = 128
    #: ``web.Application(client_max_size=...)``: the largest request body accepted.
    client_max_size = 1024**2

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.calls: list[CallT] = []
        self._injections: list[InjectionT] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the service's handlers to ``app`` (called by :meth:`start`)."""
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=self.client_max_size)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        # Bind the socket ourselves so port 0 gives a free port we can read back.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=self.backlog).start()

    async def close(self) -> None:
        self._closing.set()  # wake delayed answers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The base URL to configure (``EndpointSettings(base_url=fake.url)``)."""
        return f"http://{self.host}:{self.port}"

    # -- injections ------------------------------------------------------------------------------

    def queue(self, injection: InjectionT) -> InjectionT:
        """Add ``injection`` to the queue (after the ones already there); returns it."""
        self._injections.append(injection)
        return injection

    def take_injection(
        self, match: Callable[[InjectionT], bool] | None = None
    ) -> InjectionT | None:
        """The first live injection (``remaining`` None or > 0) that ``match``es, used once:
        ``hits`` goes up and ``remaining`` down. None when there is none."""
        for injection in self._injections:
            alive = injection.remaining is None or injection.remaining > 0
            if alive and (match is None or match(injection)):
                injection.hits += 1
                if injection.remaining is not None:
                    injection.remaining -= 1
                return injection
        return None

    def clear(self) -> None:
        """Forget calls and injections (subclasses also reset their own per-test state)."""
        self.calls.clear()
        self._injections.clear()

    # -- helpers for handlers --------------------------------------------------------------------

    async def wait_unless_closing(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server is closing (so shutdown does not wait)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    @staticmethod
    def disconnect(request: web.Request) -> web.Response:
        """Close the connection without answering; the response returned never reaches it."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
