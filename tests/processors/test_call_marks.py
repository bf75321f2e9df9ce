"""Reservations and marks: "in doubt" only once a request may have left (processors/call_marks.py).

Over the test Redis: a reservation whose lease runs out unmarked is granted again cleanly, a
marked one is in doubt, and a record written before reservations existed stays in doubt. The
mark is in Redis before ``write`` returns to the event loop, and a lost connection answers
``None`` (the gate then marks the slow way) until it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from processors.call_marks import CallMarks
from processors.idempotency import MARK_SCRIPT, ClaimState, IdempotencyStore

BOT = "bot-marks"


@pytest.fixture
async def marks(redis_client: aioredis.Redis) -> AsyncIterator[CallMarks]:
    marks = CallMarks(redis_client, MARK_SCRIPT, timeout_s=2.0)
    yield marks
    await marks.aclose()


async def connected(marks: CallMarks, key: bytes) -> asyncio.Future[Any]:
    """The first write starts the connection; the next ones are written."""
    for _ in range(100):
        if (reply := marks.write(key)) is not None:
            return reply
        await asyncio.sleep(0.02)
    raise AssertionError("call marks never connected")


def store_of(client: aioredis.Redis, unique: str, marks: CallMarks | None = None) -> Any:
    return IdempotencyStore(client, namespace=f"t{unique}", lease_s=0.3, marks=marks)


async def test_an_unmarked_reservation_whose_lease_ran_out_runs_again_cleanly(
    redis_client: aioredis.Redis, unique: str
) -> None:
    store = store_of(redis_client, unique)
    assert (await store.claim(BOT, "r", "w1:a", reserve=True)).state is ClaimState.ACQUIRED
    assert (await store.claim(BOT, "r", "w2:b")).state is ClaimState.BUSY
    await asyncio.sleep(0.5)  # w1 died before its request left
    claim = await store.claim(BOT, "r", "w2:b")
    assert (claim.state, claim.attempts) == (ClaimState.ACQUIRED, 2)


@pytest.mark.parametrize("how", ["now", "later"])
async def test_a_marked_reservation_is_in_doubt_once_its_lease_ran_out(
    redis_client: aioredis.Redis, unique: str, marks: CallMarks, how: str
) -> None:
    store = store_of(redis_client, unique, marks)
    assert store.marks_now
    await store.claim(BOT, "r", "w1:a", reserve=True)
    if how == "now":
        await connected(marks, store.key(BOT, "r"))
        reply = store.mark_now(BOT, "r")
        assert reply is not None
        assert await reply == 1
    else:
        await store.mark(BOT, "r", "w1:a")
    await asyncio.sleep(0.5)  # w1 died mid-call
    assert (await store.claim(BOT, "r", "w2:b")).state is ClaimState.ACQUIRED_AFTER_UNKNOWN


async def test_an_unreserved_claim_and_a_record_from_before_reservations_are_in_doubt(
    redis_client: aioredis.Redis, unique: str
) -> None:
    store = store_of(redis_client, unique)
    await store.claim(BOT, "new", "w1:a")  # claimed right before a call
    old = store.key(BOT, "old")  # as a worker before reservations left it: no 'm' field
    await redis_client.hset(old, mapping={"s": "l", "o": "w0", "a": 1, "e": 0, "k": "a"})
    await redis_client.pexpire(old, 60_000)
    await asyncio.sleep(0.5)
    assert (await store.claim(BOT, "new", "w2:b")).state is ClaimState.ACQUIRED_AFTER_UNKNOWN
    assert (await store.claim(BOT, "old", "w2:b")).state is ClaimState.ACQUIRED_AFTER_UNKNOWN


async def test_the_mark_is_in_redis_before_the_event_loop_turns(
    redis_client: aioredis.Redis, redis_url: str, unique: str, marks: CallMarks
) -> None:
    store = store_of(redis_client, unique, marks)
    await store.claim(BOT, "r", "w1:a", reserve=True)
    key = store.key(BOT, "r")
    await connected(marks, store.key(BOT, "warm-up"))
    reply = marks.write(key)
    assert reply is not None
    # No await from the write to here: only Redis itself can have run since.
    time.sleep(0.05)  # noqa: ASYNC251 - blocking on purpose: the loop must not turn
    with redis.Redis.from_url(redis_url) as plain:
        assert plain.hget(key, "m") == b"1"
    assert await reply == 1
    assert await (await connected(marks, store.key(BOT, "not-leased"))) == 0  # nothing to mark


async def test_a_lost_connection_writes_nothing_until_it_is_back(
    redis_client: aioredis.Redis, unique: str, marks: CallMarks
) -> None:
    store = store_of(redis_client, unique, marks)
    await connected(marks, store.key(BOT, "warm-up"))
    await redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    await asyncio.sleep(0.1)
    refused = 0
    for _ in range(100):
        reply = marks.write(store.key(BOT, "after"))
        if reply is None:
            refused += 1
        else:
            try:
                assert await reply == 0
                break
            except Exception:  # written to the dying connection: failed, not silently lost
                refused += 1
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("call marks never reconnected")
    assert refused >= 1
