"""OrderedScheduler: per-key order, cross-key concurrency, in-order acks, bounds, drain."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import defaultdict

import pytest

from processors.ordering import Job, OrderedScheduler
from processors.records import InboundRecord
from schemas.events import ORDERING_KEY_HEADER, ORDERING_KEY_MAX_BYTES


def record(key: str | None, offset: int, partition: int = 0) -> InboundRecord:
    return InboundRecord(
        topic="t",
        partition=partition,
        offset=offset,
        key=None if key is None else key.encode(),
        value=b"v",
        headers=(),
        timestamp_ms=0,
    )


class Recorder:
    """A handler with per-key latency that records start/finish order and acks."""

    def __init__(self, delays: dict[bytes | None, float] | None = None) -> None:
        self.started: list[tuple[bytes | None, int]] = []
        self.finished: list[tuple[bytes | None, int]] = []
        self.acked: list[tuple[int, int]] = []
        self.delays = delays or {}
        self.concurrent = 0
        self.max_concurrent = 0

    async def __call__(self, job: Job) -> None:
        self.started.append((job.record.key, job.record.offset))
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            await asyncio.sleep(self.delays.get(job.record.key, random.uniform(0, 0.01)))
        finally:
            self.concurrent -= 1
        self.finished.append((job.record.key, job.record.offset))

    def acker(self, rec: InboundRecord):  # type: ignore[no-untyped-def]
        return lambda: self.acked.append((rec.partition, rec.offset))


async def test_same_key_in_order_different_keys_concurrently() -> None:
    handler = Recorder()
    scheduler = OrderedScheduler(handler, max_in_flight=50, max_buffered=1000)
    records = [record(f"bot-{i % 20}", i, partition=i % 3) for i in range(600)]
    for rec in records:
        assert await scheduler.submit(rec, handler.acker(rec))
    await asyncio.wait_for(scheduler.wait_idle(), 30)

    by_key: dict[bytes | None, list[int]] = defaultdict(list)
    for key, offset in handler.finished:
        by_key[key].append(offset)
    for offsets in by_key.values():
        assert offsets == sorted(offsets), "a key's records finished out of order"
    assert handler.max_concurrent > 1, "different keys never ran concurrently"
    assert handler.max_concurrent <= 50
    # every record acked exactly once, and in offset order within each partition
    assert sorted(handler.acked) == sorted((r.partition, r.offset) for r in records)
    per_partition: dict[int, list[int]] = defaultdict(list)
    for partition, offset in handler.acked:
        per_partition[partition].append(offset)
    for offsets in per_partition.values():
        assert offsets == sorted(offsets)


async def test_a_slow_key_holds_back_acks_but_not_other_keys() -> None:
    handler = Recorder({b"slow": 0.5, b"fast": 0.0})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    slow = record("slow", 0)
    await scheduler.submit(slow, handler.acker(slow))
    for offset in range(1, 6):
        rec = record("fast", offset)
        await scheduler.submit(rec, handler.acker(rec))
    await asyncio.sleep(0.2)
    assert [o for k, o in handler.finished if k == b"fast"] == [1, 2, 3, 4, 5]
    assert handler.acked == [], "acked past an unfinished record"
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert handler.acked == [(0, o) for o in range(6)]


async def test_submit_waits_when_the_buffer_is_full() -> None:
    gate = asyncio.Event()

    async def blocked(job: Job) -> None:
        await gate.wait()

    scheduler = OrderedScheduler(blocked, max_in_flight=2, max_buffered=4)
    for offset in range(4):
        assert await scheduler.submit(record(f"k{offset}", offset), lambda: None)
    fifth = asyncio.create_task(scheduler.submit(record("k5", 5), lambda: None))
    await asyncio.sleep(0.05)
    assert not fifth.done(), "took a record beyond max_buffered"
    assert scheduler.running <= 4
    gate.set()
    assert await asyncio.wait_for(fifth, 5)
    await asyncio.wait_for(scheduler.wait_idle(), 5)


async def test_submit_waits_when_the_buffered_bytes_are_full() -> None:
    """Backpressure counts bytes too: 3 records of 40 KiB pass a 100 KiB buffer, so the fourth
    waits although only 4 of 1000 record slots are taken; one record larger than the whole
    buffer is still taken when nothing else is held (it cannot wait for room that never comes).
    """
    gate = asyncio.Event()

    async def blocked(job: Job) -> None:
        await gate.wait()

    def big(offset: int, size: int) -> InboundRecord:
        return dataclasses.replace(record(f"k{offset}", offset), value=b"x" * size)

    scheduler = OrderedScheduler(
        blocked, max_in_flight=8, max_buffered=1000, max_buffered_bytes=100 * 1024
    )
    for offset in range(3):
        assert await scheduler.submit(big(offset, 40 * 1024), lambda: None)
    assert scheduler.buffered_bytes >= 120 * 1024
    fourth = asyncio.create_task(scheduler.submit(big(3, 40 * 1024), lambda: None))
    await asyncio.sleep(0.05)
    assert not fourth.done(), "took a record beyond max_buffered_bytes"
    gate.set()
    assert await asyncio.wait_for(fourth, 5)
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert scheduler.buffered_bytes == 0

    gate.clear()
    assert await asyncio.wait_for(scheduler.submit(big(4, 500 * 1024), lambda: None), 1)
    gate.set()
    await asyncio.wait_for(scheduler.wait_idle(), 5)


async def test_parking_frees_the_slot_for_other_keys() -> None:
    finished: list[str] = []
    scheduler: OrderedScheduler

    async def handler(job: Job) -> None:
        if job.record.key == b"parked":
            await scheduler.park(job, 0.3)
        finished.append(job.record.key.decode() if job.record.key else "")

    scheduler = OrderedScheduler(handler, max_in_flight=1, max_buffered=10)
    await scheduler.submit(record("parked", 0), lambda: None)
    await asyncio.sleep(0.01)
    await scheduler.submit(record("other", 1), lambda: None)
    await asyncio.sleep(0.1)
    assert finished == ["other"], "a parked key blocked the only slot"
    assert scheduler.parked == 1
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert finished == ["other", "parked"]


async def test_drain_finishes_running_work_and_abandons_the_rest_unacked() -> None:
    handler = Recorder({b"quick": 0.05, b"stuck": 60})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    recs = [record("quick", 0), record("stuck", 1), record("quick", 2), record("stuck", 3)]
    for rec in recs:
        await scheduler.submit(rec, handler.acker(rec))
    await asyncio.sleep(0.01)
    abandoned = await scheduler.drain(timeout_s=0.5)
    # the stuck one that was running, and both queued ones: draining starts nothing new
    assert abandoned == 3
    assert (b"quick", 0) in handler.finished
    assert handler.acked == [(0, 0)]  # offset 1 never finished: nothing past it is acked
    assert not await scheduler.submit(record("late", 9), lambda: None)


@pytest.mark.parametrize("stop", ["drain", "revoke"])
async def test_acks_never_pass_a_record_given_up_on_drain_or_revoke(stop: str) -> None:
    # Offset 1 waits in bot a's lane behind offset 0; offset 2 (bot b) finishes after the stop
    # began. Acking 2 with 1 unacked would let Faust commit past 1 (faust-streaming#606).
    handler = Recorder({b"a": 0.2, b"b": 0.3})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    recs = [record("a", 0), record("a", 1), record("b", 2)]
    for rec in recs:
        await scheduler.submit(rec, handler.acker(rec))
    await asyncio.sleep(0.01)
    if stop == "drain":
        abandoned = await scheduler.drain(timeout_s=5)
    else:
        abandoned = await scheduler.revoke([("t", 0)], grace_s=5)
    assert abandoned == 1
    assert sorted(handler.finished) == [(b"a", 0), (b"b", 2)]
    assert handler.acked == [(0, 0)], "an ack passed the record that never ran"


async def test_acks_stay_in_offset_order_whatever_order_lanes_finish_in() -> None:
    # Random latencies, random stops: every ack sequence is a contiguous prefix of the offsets.
    rng = random.Random(12)
    for _ in range(20):
        handler = Recorder({f"bot-{k}".encode(): rng.uniform(0, 0.02) for k in range(8)})
        scheduler = OrderedScheduler(handler, max_in_flight=4, max_buffered=100)
        for offset in range(40):
            rec = record(f"bot-{rng.randrange(8)}", offset)
            await scheduler.submit(rec, handler.acker(rec))
        await asyncio.sleep(rng.uniform(0, 0.05))
        await scheduler.drain(timeout_s=rng.uniform(0, 0.02))
        assert [offset for _, offset in handler.acked] == list(range(len(handler.acked)))


async def test_skipped_records_are_acked_in_their_turn_and_listed_as_finished() -> None:
    handler = Recorder({b"slow": 0.2})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    first, done, later = record("slow", 0), record("x", 1), record("y", 2)
    await scheduler.submit(first, handler.acker(first))
    scheduler.skip(done, handler.acker(done))
    await scheduler.submit(later, handler.acker(later))
    await asyncio.sleep(0.05)
    assert handler.acked == []  # offset 0 still runs
    assert scheduler.finished_from(("t", 0), 0) == [1, 2]
    assert scheduler.finished_from(("t", 0), 2) == [2]
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert handler.acked == [(0, 0), (0, 1), (0, 2)]
    assert (b"x", 1) not in handler.started, "a skipped record ran"
    assert scheduler.finished_from(("t", 0), 0) == []


async def test_revoke_forgets_a_partition_and_its_lanes_start_fresh() -> None:
    handler = Recorder({b"a": 60})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    await scheduler.submit(record("a", 0, partition=1), lambda: None)
    await scheduler.submit(record("a", 1, partition=1), lambda: None)
    await asyncio.sleep(0.01)
    assert await scheduler.revoke([("t", 1)], grace_s=0.1) == 2
    assert scheduler.buffered == 0
    handler.delays[b"a"] = 0.0
    rec = record("a", 0, partition=1)  # redelivered after the partition comes back
    await scheduler.submit(rec, handler.acker(rec))
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert handler.acked == [(1, 0)]


async def test_a_handler_bug_is_retried_not_acked() -> None:
    calls = 0

    async def flaky(job: Job) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")

    acked: list[int] = []
    scheduler = OrderedScheduler(flaky, max_in_flight=1, max_buffered=10)
    rec = record("k", 0)
    await scheduler.submit(rec, lambda: acked.append(rec.offset))
    await asyncio.wait_for(scheduler.wait_idle(), 10)
    assert calls == 2
    assert acked == [0]


async def test_a_handler_that_keeps_failing_gets_its_last_word_and_its_lane_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("processors.ordering.HANDLER_BUG_RETRY_S", 0.01)
    handled: list[int] = []
    crashed: list[tuple[int, str]] = []
    crash_failures = 1  # the last word itself fails once (Kafka hiccup): tried again

    async def poisoned(job: Job) -> None:
        if job.record.offset == 0:
            raise RecursionError("maximum recursion depth exceeded")
        handled.append(job.record.offset)

    async def on_crash(job: Job, exc: Exception) -> None:
        nonlocal crash_failures
        if crash_failures:
            crash_failures -= 1
            raise ConnectionError("broker away")
        crashed.append((job.record.offset, type(exc).__name__))

    acked: list[int] = []
    scheduler = OrderedScheduler(poisoned, max_in_flight=2, max_buffered=10, on_crash=on_crash)
    for offset in range(3):  # one bot: the poisoned record heads its lane
        rec = record("k", offset)
        await scheduler.submit(rec, lambda rec=rec: acked.append(rec.offset))
    await asyncio.wait_for(scheduler.wait_idle(), 10)
    assert crashed == [(0, "RecursionError")]
    assert handled == [1, 2]
    assert acked == [0, 1, 2]


def test_bounds_are_checked() -> None:
    async def noop(job: Job) -> None:
        return None

    with pytest.raises(ValueError, match="max_buffered"):
        OrderedScheduler(noop, max_in_flight=10, max_buffered=5)


async def test_ordering_keys_split_a_bot_into_lanes_that_keep_their_own_order() -> None:
    started: list[tuple[bytes | None, int]] = []
    running = 0
    most = 0

    async def handler(job: Job) -> None:
        nonlocal running, most
        started.append((job.record.header(ORDERING_KEY_HEADER), job.record.offset))
        running += 1
        most = max(most, running)
        await asyncio.sleep(random.uniform(0, 0.01))
        running -= 1

    def keyed(offset: int, scope: str | None) -> InboundRecord:
        headers = () if scope is None else ((ORDERING_KEY_HEADER, scope.encode()),)
        return dataclasses.replace(record("bot-1", offset), headers=headers)

    scheduler = OrderedScheduler(handler, max_in_flight=50, max_buffered=1000)
    scopes = [f"chat-{n % 10}" for n in range(200)]
    for offset, scope in enumerate(scopes):
        assert await scheduler.submit(keyed(offset, scope), lambda: None)
    await asyncio.wait_for(scheduler.wait_idle(), 30)
    assert most > 1, "one bot's ordering keys never ran concurrently"
    by_scope: dict[bytes | None, list[int]] = defaultdict(list)
    for scope, offset in started:
        by_scope[scope].append(offset)
    assert all(offsets == sorted(offsets) for offsets in by_scope.values())

    # Without a key, or with one over the bound, the bot keeps one order.
    started.clear()
    most = 0
    oversized = "x" * (ORDERING_KEY_MAX_BYTES + 1)
    for offset in range(200, 260):
        scope = None if offset % 2 else oversized
        assert await scheduler.submit(keyed(offset, scope), lambda: None)
    await asyncio.wait_for(scheduler.wait_idle(), 30)
    assert most == 1
    assert [offset for _, offset in started] == list(range(200, 260))


async def test_a_lane_runs_its_waiting_records_in_one_task_and_another_partition_in_its_own() -> (
    None
):
    tasks: dict[tuple[int, int], asyncio.Task[object] | None] = {}
    gate = asyncio.Event()

    async def handler(job: Job) -> None:
        tasks[(job.record.partition, job.record.offset)] = asyncio.current_task()
        await gate.wait()

    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    # The same key on partition 0 and, as after partitions were added, on partition 1.
    for rec in (record("a", 0), record("a", 1), record("a", 2), record("a", 0, partition=1)):
        assert await scheduler.submit(rec, lambda: None)
    gate.set()
    await asyncio.wait_for(scheduler.wait_idle(), 5)
    assert tasks[(0, 0)] is tasks[(0, 1)] is tasks[(0, 2)]
    assert tasks[(1, 0)] is not tasks[(0, 0)]  # revoking partition 0 must not stop it


async def test_a_drained_lane_starts_none_of_its_waiting_records() -> None:
    handler = Recorder({b"a": 0.2})
    scheduler = OrderedScheduler(handler, max_in_flight=10, max_buffered=100)
    for offset in range(3):
        await scheduler.submit(record("a", offset), handler.acker(record("a", offset)))
    await asyncio.sleep(0.05)
    assert await scheduler.drain(timeout_s=2) == 2
    assert handler.finished == [(b"a", 0)] and handler.acked == [(0, 0)]
