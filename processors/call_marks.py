"""Marks written to Redis in the same step as the request they are for.

A claim taken at the send gate is a *reservation* (:meth:`IdempotencyStore.claim`,
``reserve=True``): it makes this attempt the owner, but says nothing left yet. Right before the
request leaves, the gate writes a *mark* ("a call may have left") to the Redis socket, and then
the request to its own connection, in one synchronous step with no reply awaited in between. A
worker killed before the mark leaves an unmarked reservation, which the next claimant gets as
``ACQUIRED`` (the request runs again cleanly); one killed after it leaves a mark, and the outcome
is in doubt. Between the two writes no other code runs, so "in doubt" means a request left, or
was a few system calls from leaving.

A mark needs no reply before the request leaves: the reservation already made this attempt the
owner, and its lease is checked on the worker's own clock (see :mod:`processors.send_gate`). On
loopback or a LAN, bytes written to a healthy socket reach Redis even if the worker dies next.

This takes a connection of its own, written to directly: redis-py's calls are coroutines, and
even an immediate one runs a loop turn later. Its replies are read in order by one task. While
it is not connected (at start, after an error) :meth:`CallMarks.write` answers ``None`` and the
gate marks through the script runner before the request leaves, which is safe and one round
trip slower. Not used on a Redis Cluster (a mark would need the node's connection) or with
``claim_replicas`` (a mark is not waited for on replicas): there claims are taken unreserved.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

log = logging.getLogger("actionstream.redis")


class CallMarks:
    """One connection that writes marks synchronously and reads their replies in order."""

    def __init__(self, redis: Redis, script: str, *, timeout_s: float = 5.0) -> None:
        self._redis = redis
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis's script id
        self._timeout_s = timeout_s
        self._conn: AbstractConnection | None = None
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def write(self, key: bytes) -> asyncio.Future[Any] | None:
        """Write the mark of ``key`` now; its future gets Redis's reply (1: marked, 0: the record
        is not leased any more). ``None`` when not connected: nothing was written."""
        conn = self._conn
        if conn is None or _closing(conn):
            self._wake.set()  # a reader waiting on a closed connection lets go of it
            self._start()
            return None
        writer = _writer(conn)
        assert writer is not None
        writer.writelines(conn.pack_command("EVALSHA", self._sha, 1, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._wake.set()
        return future

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            conn = await self._redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        except Exception as exc:
            log.warning("no connection for call marks yet (%s); marking the slow way", exc)
            await asyncio.sleep(1.0)
            self._task = None
            return
        try:
            # Loaded on this connection before any mark: EVALSHA needs no more than the ACL
            # grants the worker already (EVAL is not among them), and cannot meet NOSCRIPT
            # unless the scripts are flushed meanwhile (the reply fails, and it reconnects).
            async with asyncio.timeout(self._timeout_s):
                await conn.send_command("SCRIPT", "LOAD", self._script)
                await conn.read_response()
            self._conn = conn
            while True:
                await self._wake.wait()
                self._wake.clear()
                if _closing(conn):
                    raise ConnectionError("the connection closed")
                while self._pending:
                    async with asyncio.timeout(self._timeout_s):  # a hung Redis fails them
                        reply = await conn.read_response(disconnect_on_error=True)
                    future = self._pending.popleft()
                    if not future.done():
                        future.set_result(reply)
        except Exception as exc:
            log.warning("call marks' connection failed (%s); reconnecting", exc)
            self._conn = None
            self._fail(exc)
            await asyncio.sleep(1.0)  # meanwhile marks go the slow way
        finally:
            self._conn = None
            self._task = None
            with contextlib.suppress(Exception):
                await conn.disconnect()
                await self._redis.connection_pool.release(conn)

    def _fail(self, exc: BaseException) -> None:
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(exc)

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail(ConnectionError("call marks closed"))


def _writer(conn: AbstractConnection | None) -> asyncio.StreamWriter | None:
    """The connection's stream writer (redis-py keeps it in ``_writer``; a test pins that)."""
    return getattr(conn, "_writer", None) if conn is not None else None


def _closing(conn: AbstractConnection) -> bool:
    writer = _writer(conn)
    return writer is None or writer.is_closing()
