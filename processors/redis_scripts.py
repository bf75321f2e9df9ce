"""Lua scripts on Redis, with the calls of one event-loop turn sent as one pipeline.

Every request makes two or three script calls (idempotency claim and completion, a rate-limit
slot) and the worker runs hundreds of requests at once. redis-py's cost is per command —
taking a connection from the pool, packing, a socket write, retry bookkeeping — and in the
benchmark profile it was about half of a worker's CPU. Calls made while the event loop runs one
batch of ready callbacks are therefore collected and sent together (``EVALSHA`` × N in one
pipeline, one connection, one write); each caller still gets its own reply or error. Under light
load a batch is one call and nothing changes.

Scripts stay idempotent per call, and each call's keys share one hash tag, so the pipeline
needs no atomicity across calls (it is not a transaction) and splits cleanly on a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.typing import EncodableT, KeyT

from integrations.errors import TransientError

_Call = tuple[AsyncScript, Sequence[KeyT], Sequence[EncodableT], asyncio.Future[Any]]


class RedisUnavailableError(TransientError):
    """Redis could not be asked (down, timing out, erroring): the caller pauses and retries.

    Raised by the idempotency store and the rate limiter alike; neither ever lets a call go
    ahead without an answer from Redis.
    """


class ScriptRunner:
    """Runs registered scripts, batching concurrent calls into pipelines."""

    def __init__(self, redis: aioredis.Redis, *, timeout_s: float = 5.0) -> None:
        self._redis = redis
        self._timeout_s = timeout_s
        self._pending: list[_Call] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, source: str) -> AsyncScript:
        return self._redis.register_script(source)

    async def run(
        self, script: AsyncScript, keys: Sequence[KeyT], args: Sequence[EncodableT]
    ) -> Any:
        """The script's reply; raises what redis-py would raise for a single call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((script, keys, args, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)  # keep a reference until done
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for script, keys, args, _ in batch:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            # One deadline per batch (our client has no per-command socket timeout, see
            # runtime._redis): a hung Redis fails every caller with TimeoutError, an OSError.
            async with asyncio.timeout(self._timeout_s):
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # every caller sees the failure; cancellation too
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (script, keys, args, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue  # the caller gave up (its own timeout)
            if isinstance(reply, NoScriptError):
                # Redis was restarted or flushed its scripts: a single call loads it again.
                await _settle(future, script(keys=keys, args=args))
            elif isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)


async def _settle(future: asyncio.Future[Any], call: Any) -> None:
    try:
        result = await call
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
    else:
        if not future.done():
            future.set_result(result)
