"""Lua scripts on Redis, with the calls of one event-loop turn sent as one pipeline.

Every request makes two or three script calls (idempotency claim and completion, a rate-limit
slot) and the worker runs hundreds of requests at once. redis-py's cost is per command —
taking a connection from the pool, packing, a socket write, retry bookkeeping — and in the
benchmark profile it was about half of a worker's CPU. Calls made while the event loop runs one
batch of ready callbacks are therefore collected and sent together (``EVALSHA`` × N in one
pipeline, one connection, one write); each caller still gets its own reply or error. Under light
load a batch is one call and nothing changes.

Scripts stay idempotent per call, and each call's keys share one hash tag, so the pipeline
needs no atomicity across calls (it is not a transaction). On a cluster a batch becomes one
pipeline per node that serves its keys, sent concurrently, so a failing master fails only the
calls for its slots.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import ClusterDownError, DataError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, KeyT

from integrations.errors import TransientError
from integrations.redis_types import RedisClient

log = logging.getLogger("actionstream.redis")

REFRESH_INTERVAL_S = 0.25  # between two slot-map refreshes after node failures
# What a node that is down, unreachable or hung fails a pipeline with.
_NODE_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass
class _Call:
    script: AsyncScript
    keys: Sequence[KeyT]
    args: Sequence[EncodableT]
    future: asyncio.Future[Any]
    durable: bool
    then: Callable[[Any], None] | None = None
    reloaded: bool = False

    def answer(self, reply: Any) -> None:
        """Give the caller its reply: ``then`` first, synchronously, then the future."""
        if self.future.done():
            return  # the caller gave up (its own timeout)
        if self.then is not None:
            try:
                self.then(reply)
            except Exception as exc:
                self.future.set_exception(exc)
                return
        self.future.set_result(reply)


class RedisUnavailableError(TransientError):
    """Redis could not be asked (down, timing out, erroring): the caller pauses and retries.

    Raised by the idempotency store and the rate limiter alike; neither ever lets a call go
    ahead without an answer from Redis.
    """


class ScriptRunner:
    """Runs registered scripts, batching concurrent calls into pipelines.

    A *durable* call (an idempotency claim) with ``replicas`` > 0 is followed, on the same
    connection, by ``WAIT replicas replicas_timeout_ms``: its reply is only given once that many
    replicas hold the write, else it fails with :class:`RedisUnavailableError` and the caller
    retries (every script is idempotent for its owner). On a cluster one ``WAIT`` goes to each
    node the batch's durable calls touched.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        timeout_s: float = 5.0,
        replicas: int = 0,
        replicas_timeout_ms: int = 100,
    ) -> None:
        self._redis = redis
        self._timeout_s = timeout_s
        self._replicas = replicas
        self._replicas_timeout_ms = replicas_timeout_ms
        self._pending: list[_Call] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshing: asyncio.Task[None] | None = None
        self._refreshed_at = -REFRESH_INTERVAL_S
        self.registered: list[AsyncScript] = []

    def register(self, source: str) -> AsyncScript:
        script = self._redis.register_script(source)
        self.registered.append(script)
        return script

    def run(
        self,
        script: AsyncScript,
        keys: Sequence[KeyT],
        args: Sequence[EncodableT],
        *,
        durable: bool = False,
        then: Callable[[Any], None] | None = None,
    ) -> asyncio.Future[Any]:
        """The script's reply, to await; raises what redis-py would raise for a single call.

        The call joins this loop turn's batch at once. A future rather than a coroutine: one
        frame less for every resumption of the awaiting task (three calls per request).
        ``then`` is called with the reply as soon as it is read, in the task that read it,
        before the caller resumes: a step that must follow the reply with no task switch in
        between (see :mod:`processors.send_gate`). What it raises is raised to the caller.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(_Call(script, keys, args, future, durable and self._replicas > 0, then))
        return future

    def _enqueue(self, call: _Call) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(call)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self._spawn(self._send(batch))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # keep a reference until done
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Call]) -> None:
        if not isinstance(self._redis, RedisCluster):
            await self._send_to(batch)
            return
        try:
            await self._redis.initialize()  # a no-op once it knows the slots
        except BaseException as exc:
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        # One pipeline per node, concurrently: a node that is down or failing over fails only
        # the calls whose keys it serves, and the bots of the other masters go on.
        by_node: dict[str, list[_Call]] = {}
        for call in batch:
            by_node.setdefault(self._node_key(call), []).append(call)
        await asyncio.gather(*(self._send_to(calls) for calls in by_node.values()))

    async def _send_to(self, batch: list[_Call]) -> None:
        """Send calls served by one node (or the one Redis) as one pipeline."""
        if not self._replicas and not isinstance(self._redis, RedisCluster):
            await self._send_direct(self._redis, batch)
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for call in batch:
                # (a cluster pipeline blocks the named ``evalsha``, not the command itself)
                pipe.execute_command(
                    "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args
                )
            waits = self._add_waits(pipe, [call for call in batch if call.durable])
            # One deadline per batch (our client has no per-command socket timeout, see
            # runtime._redis): a hung Redis fails every caller with TimeoutError, an OSError.
            async with asyncio.timeout(self._timeout_s):
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # every caller sees the failure; cancellation too
            _fail(batch, exc)
            if isinstance(exc, _NODE_FAILURES):
                self._refresh_slots()
            if not isinstance(exc, Exception):
                raise
            return
        short = self._short_waits(waits, replies[len(batch) :])
        await self._answer(batch, replies, short)

    async def _send_direct(self, redis: Redis, batch: list[_Call]) -> None:
        """One Redis (or Sentinel's master), no replicas to wait for: the pipeline written and
        read on a pooled connection directly. redis-py's pipeline costs about four times as much
        CPU per call (per-argument encoding, retry and telemetry bookkeeping); its retry is not
        needed, as callers retry a failed call themselves."""
        packed: list[bytes] = []
        sent: list[_Call] = []
        for call in batch:
            try:
                command = ("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
                packed.append(pack_command(cast(Any, command)))  # (its stub takes one item)
            except TypeError as exc:  # an argument Redis cannot take: that call's bug alone
                _fail([call], DataError(f"EVALSHA argument: {exc}"))
                continue
            sent.append(call)
        if not sent:
            return
        pool = redis.connection_pool
        try:
            async with asyncio.timeout(self._timeout_s):  # as for the pipeline, one deadline
                connection = await pool.get_connection()  # type: ignore[no-untyped-call]
                try:
                    await connection.send_packed_command(b"".join(packed), check_health=False)
                    replies = [await _reply(connection) for _ in sent]
                except BaseException:
                    # Replies may still be on the socket: never hand it to the next caller.
                    await connection.disconnect(nowait=True)
                    raise
                finally:
                    await pool.release(connection)
        except BaseException as exc:  # every caller sees the failure; cancellation too
            _fail(sent, exc)
            if not isinstance(exc, Exception):
                raise
            return
        await self._answer(sent, replies, {})

    async def _answer(
        self, batch: list[_Call], replies: list[Any], short: dict[str, Exception]
    ) -> None:
        """Give each call its reply or error; reload scripts Redis lost and send those again."""
        reload: list[_Call] = []
        for call, reply in zip(batch, replies, strict=False):
            if call.future.done():
                continue  # the caller gave up (its own timeout)
            if isinstance(reply, NoScriptError):
                reload.append(call)
            elif isinstance(reply, BaseException):
                call.future.set_exception(reply)
                if isinstance(reply, (*_NODE_FAILURES, ClusterDownError)):
                    self._refresh_slots()
            elif call.durable and self._node_key(call) in short:
                call.future.set_exception(short[self._node_key(call)])
            else:
                call.answer(reply)
        if reload:
            await self._reload(reload)

    def _refresh_slots(self) -> None:
        """After a node failed, ask the cluster for its slot map again (one refresh at a time,
        at most every :data:`REFRESH_INTERVAL_S`), so calls go to the replica that took over.
        The cluster client itself does not retry (see :func:`processors.redis_client.make_client`):
        its retry closes every node's connections, failing the healthy nodes' calls too."""
        if not isinstance(self._redis, RedisCluster):
            return
        now = time.monotonic()
        if self._refreshing is not None or now - self._refreshed_at < REFRESH_INTERVAL_S:
            return
        self._refreshed_at = now

        async def refresh(cluster: RedisCluster) -> None:
            try:
                await cluster.nodes_manager.initialize()
            except Exception as exc:  # still failing over: the next failure asks again
                log.info("Redis Cluster slot map not refreshed yet: %s", exc)
            finally:
                self._refreshing = None

        self._refreshing = asyncio.get_running_loop().create_task(refresh(self._redis))

    def _add_waits(self, pipe: Any, durable: list[_Call]) -> list[str]:
        """Queue one ``WAIT`` per node that durable calls wrote to; the nodes, in order."""
        nodes = list(dict.fromkeys(self._node_key(call) for call in durable))
        for node in nodes:
            target = {} if node == "" else {"target_nodes": self._node(node)}
            pipe.execute_command("WAIT", self._replicas, self._replicas_timeout_ms, **target)
        return nodes

    def _short_waits(self, nodes: list[str], replies: list[Any]) -> dict[str, Exception]:
        """The nodes whose ``WAIT`` did not reach ``replicas``, with the error to give."""
        short: dict[str, Exception] = {}
        for node, reply in zip(nodes, replies, strict=True):
            if isinstance(reply, BaseException) or int(reply) < self._replicas:
                got = reply if isinstance(reply, BaseException) else f"{reply} acknowledged"
                short[node] = RedisUnavailableError(
                    f"Redis{' ' + node if node else ''}: a claim did not reach "
                    f"{self._replicas} replica(s) in {self._replicas_timeout_ms} ms ({got}); "
                    "see ACTIONSTREAM_REDIS__CLAIM_REPLICAS"
                )
        return short

    def _node_key(self, call: _Call) -> str:
        """The cluster node that serves the call's keys (``""`` off a cluster)."""
        if not isinstance(self._redis, RedisCluster):
            return ""
        node = self._redis.get_node_from_key(cast(str, call.keys[0]))  # bytes work as well
        return "" if node is None else str(node.name)

    def _node(self, name: str) -> ClusterNode:
        assert isinstance(self._redis, RedisCluster)
        node = self._redis.get_node(node_name=name)
        assert node is not None
        return node

    async def _reload(self, calls: list[_Call]) -> None:
        """Redis lost its scripts (a restart, a failover to a replica, SCRIPT FLUSH): load them
        again and send the calls once more, in a later batch (so a durable call still waits for
        its replicas). A call that meets NOSCRIPT twice falls back to a single call."""
        try:
            for source in dict.fromkeys(call.script.script for call in calls):
                await self._redis.script_load(source)
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        for call in calls:
            if call.reloaded:
                self._spawn(_settle(call, call.script(keys=call.keys, args=call.args)))
            else:
                call.reloaded = True
                self._enqueue(call)


async def _reply(connection: Connection) -> Any:
    """The next reply, an error reply returned rather than raised (as in a pipeline)."""
    try:
        return await connection.read_response()
    except ResponseError as exc:
        return exc


def _fail(calls: Sequence[_Call], exc: BaseException) -> None:
    for call in calls:
        if not call.future.done():
            call.future.set_exception(exc)


async def _settle(call: _Call, single: Any) -> None:
    try:
        result = await single
    except Exception as exc:
        if not call.future.done():
            call.future.set_exception(exc)
    else:
        call.answer(result)
