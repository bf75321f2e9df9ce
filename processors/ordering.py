"""Ordered concurrency: different bots run concurrently, one bot's records strictly in order.

Records arrive from Kafka in offset order per partition. :class:`OrderedScheduler` puts each one
in the *lane* of its key (the ``bot_id``), narrowed by its ordering key when the record carries
one (the ``actionstream-ordering-key`` header): only a lane's head runs, so a bot's actions of one
ordering key keep their publish order, while heads of different lanes run concurrently, up to
``max_in_flight``.

Offsets: a record is acked only when it is finished *and* every earlier record of its partition is
finished too (the contiguous finished prefix), so Faust never commits past unfinished work,
whatever order the lanes finish in (faust-streaming#606 is why we release acks ourselves).

Acks never overtake an unfinished record, not even one given up: a record abandoned on drain
or revoke stays in its partition's queue, unfinished, so nothing after it is acked (Faust's
commit check lets a commit jump over an unacked record that sits exactly at the committed offset,
faust-streaming#606; after a crash that record would never run). Records already finished by an
earlier owner (:meth:`OrderedScheduler.skip`, from the commit metadata) join the partition queue
as finished and are acked in their turn. :meth:`OrderedScheduler.finished_from` lists the finished
offsets not yet acked, for the commit metadata (:mod:`processors.offset_marks`).

Slots are shared fairly (:class:`~processors.fair_slots.FairSlots`): one bot holds at most
``max_in_flight_per_bot`` of them, however many of its lanes (ordering keys) are ready, and a
freed slot goes to the next bot in a round-robin over those waiting, not to the oldest waiter.
The same number bounds a bot's started heads, running or parked, so a rate-limited broadcast
parks at most that many and cannot use up ``max_parked`` for everyone.

A head that has to wait (rate limit, retry backoff) is *parked*: it gives its execution slot
back and sleeps; only its own lane waits. Everything is bounded: at most ``max_buffered`` records
and ``max_buffered_bytes`` of their bytes held (running, parked or queued; one record is always
taken, however large), and at most ``max_parked`` parked lanes; past any bound
:meth:`OrderedScheduler.submit` waits, which stops the agent from taking more records — Kafka's
fetcher then stops fetching: backpressure, never unbounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from processors.fair_slots import FairSlots
from processors.records import InboundRecord
from schemas.events import ORDERING_KEY_HEADER, ORDERING_KEY_MAX_BYTES

log = logging.getLogger("actionstream.ordering")

TopicPartition = tuple[str, int]
# (topic, bot) or (topic, bot, ordering key); a keyless record: (topic, (partition, offset)).
LaneKey = tuple[str, bytes | tuple[int, int]] | tuple[str, bytes, bytes]

# A handler that raised (a bug of ours, or input we failed to bound: handlers route every
# failure themselves) is tried again after a pause, a few times; then ``on_crash`` gives the
# record its one answer (a FAILED result and a dead letter) and the lane moves on. Only if that
# fails too (Kafka is down) is it tried again, for as long as it takes.
HANDLER_BUG_RETRY_S = 1.0
HANDLER_BUG_ATTEMPTS = 3

CrashHandler = Callable[["Job", Exception], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Job:
    """One record on its way through the scheduler."""

    record: InboundRecord
    ack: Callable[[], object]
    lane: LaneKey
    size: int = 0
    done: bool = False
    scheduler: OrderedScheduler | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    holds_slot: bool = False
    abandoned: bool = False

    @property
    def tp(self) -> TopicPartition:
        return (self.record.topic, self.record.partition)

    async def park(self, seconds: float) -> None:
        """Wait without holding an execution slot; only this job's lane waits."""
        if self.scheduler is not None:
            await self.scheduler.park(self, seconds)
        elif seconds > 0:
            await asyncio.sleep(seconds)

    async def hold(self, until: asyncio.Future[None]) -> None:
        """Wait for ``until`` (a paused bot's resume) without an execution slot."""
        if self.scheduler is not None:
            await self.scheduler.hold(self, until)
        else:
            await asyncio.shield(until)


Handler = Callable[[Job], Awaitable[None]]


class OrderedScheduler:
    """Runs records by lane, concurrently across lanes, acking each partition's finished prefix."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_in_flight: int = 256,
        max_in_flight_per_bot: int | None = None,
        max_buffered: int = 10_000,
        max_buffered_bytes: int = 64 * 1024 * 1024,
        max_parked: int = 1_000,
        name: str = "scheduler",
        on_crash: CrashHandler | None = None,
    ) -> None:
        if max_buffered < max_in_flight:
            raise ValueError(
                f"max_buffered ({max_buffered}) must be at least max_in_flight ({max_in_flight})"
            )
        self._handler = handler
        self._on_crash = on_crash
        self._max_buffered = max_buffered
        self._max_buffered_bytes = max_buffered_bytes
        self._max_parked = max_parked
        self._name = name
        per_bot = max_in_flight_per_bot or max_in_flight
        self._slots = FairSlots(max_in_flight, per_bot)
        # A bot's started lane heads, running or parked: a broadcast over thousands of ordering
        # keys must not park thousands of heads (max_parked is every bot's budget).
        self._heads = FairSlots(max_buffered, per_bot)
        # A lane is a list, not a deque: most hold one job, and an empty deque is ~600 bytes.
        self._lanes: dict[LaneKey, list[Job]] = {}
        self._partitions: dict[TopicPartition, deque[Job]] = {}
        self._buffered = 0
        self._buffered_bytes = 0
        self._parked = 0
        self._held = 0
        self._running = 0
        self._space_waiters: list[asyncio.Future[None]] = []
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()

    # -- what the agent calls ---------------------------------------------------------------------

    async def submit(self, record: InboundRecord, ack: Callable[[], object]) -> bool:
        """Take a record (waiting while the scheduler is full); ``False`` once it stops accepting.

        A record that is not taken is not acked: Kafka redelivers it after a restart or rebalance.
        """
        while not self._has_space():
            waiter = asyncio.get_running_loop().create_future()
            self._space_waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._space_waiters.remove(waiter)
        if not self._accepting:
            return False
        job = Job(record, ack, _lane_of(record), size=record_size(record), scheduler=self)
        self._buffered += 1
        self._buffered_bytes += job.size
        self._idle.clear()
        self._partitions.setdefault(job.tp, deque()).append(job)
        lane = self._lanes.get(job.lane)
        if lane is None:
            self._lanes[job.lane] = [job]
            self._start(job)
        else:
            lane.append(job)
        return True

    def skip(self, record: InboundRecord, ack: Callable[[], object]) -> None:
        """A record an earlier owner already finished: acked in offset order, never run."""
        job = Job(record, ack, _lane_of(record), done=True)
        self._partitions.setdefault(job.tp, deque()).append(job)
        self._release_acks(job.tp)

    def finished_from(self, tp: TopicPartition, offset: int) -> list[int]:
        """Offsets at or above ``offset`` that are finished but not yet acked (ascending)."""
        partition = self._partitions.get(tp)
        if not partition:
            return []
        return [job.record.offset for job in partition if job.done and job.record.offset >= offset]

    def _has_space(self) -> bool:
        return not self._accepting or (
            self._buffered < self._max_buffered
            and (self._buffered == 0 or self._buffered_bytes < self._max_buffered_bytes)
            and self._parked < self._max_parked
        )

    # -- what handlers call -----------------------------------------------------------------------

    async def park(self, job: Job, seconds: float) -> None:
        """Wait ``seconds`` holding the job's lane but not an execution slot."""
        if seconds <= 0:
            return
        self._release_slot(job)
        self._parked += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self._parked -= 1
            self._wake()
        await self._acquire_slot(job)

    async def hold(self, job: Job, until: asyncio.Future[None]) -> None:
        """Wait for ``until`` holding the job's lane but no execution slot, and without counting
        against ``max_parked`` (a paused bot's heads: at most its per-bot cap of them)."""
        self._release_slot(job)
        self._held += 1
        try:
            await asyncio.shield(until)
        finally:
            self._held -= 1
        await self._acquire_slot(job)

    # -- lifecycle --------------------------------------------------------------------------------

    async def drain(self, timeout_s: float) -> int:
        """Stop taking records, let running ones finish for up to ``timeout_s``, cancel the rest.

        Queued records that had not started are dropped unacked (they are redelivered and, being
        idempotent by key, deduplicated); nothing after the first of them is acked any more.
        Returns how many were cancelled or dropped.
        """
        self._accepting = False
        self._wake()
        return await self._stop_jobs(self._all_jobs(), timeout_s)

    async def revoke(self, partitions: Iterable[TopicPartition], grace_s: float) -> int:
        """Partitions were taken away: stop starting their records, finish or abandon the rest."""
        revoked = set(partitions)
        jobs = [job for tp in revoked for job in self._partitions.get(tp, ())]
        abandoned = await self._stop_jobs(jobs, grace_s)
        for tp in revoked:
            self._partitions.pop(tp, None)
        return abandoned

    async def _stop_jobs(self, jobs: list[Job], timeout_s: float) -> int:
        waiting = [job for job in jobs if not (job.done or job.abandoned)]
        running = [job.task for job in waiting if job.task is not None]
        for job in waiting:
            if job.task is None:  # never started: just forget it
                self._forget(job)
        if running:
            _, pending = await asyncio.wait(running, timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        abandoned = [job for job in waiting if not job.done]
        for job in abandoned:
            self._forget(job)  # cancelled mid-way (or never started): its lane must not wait
        if abandoned:
            log.warning(
                "%s: %d record(s) left unacked; Kafka will redeliver them",
                self._name,
                len(abandoned),
            )
        return len(abandoned)

    def _all_jobs(self) -> list[Job]:
        return [job for jobs in self._partitions.values() for job in jobs]

    # -- internals --------------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        job.task = asyncio.create_task(self._run(job), name=f"{self._name}:{job.lane[1]!r}")

    async def _run(self, job: Job) -> None:
        """Run a lane's head, then each next record of its lane in this same task: one task per
        lane while records wait in it, not one per record."""
        task = job.task or asyncio.current_task()  # (None only if the task started eagerly)
        while True:
            self._running += 1
            tenant, head = job.lane[1], False
            try:
                await self._heads.acquire(tenant)
                head = True
                await self._acquire_slot(job)
                crash: Exception | None = None
                failures = 0
                while True:
                    try:
                        if crash is None or self._on_crash is None:
                            await self._handler(job)
                        else:
                            await self._on_crash(job, crash)
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        failures += 1
                        if crash is None and failures >= HANDLER_BUG_ATTEMPTS:
                            crash = exc
                        log.exception(
                            "%s: %s failed on %s[%d]@%d (%d time(s)); trying again (not acked)",
                            self._name,
                            "handler" if crash is None or crash is exc else "on_crash",
                            job.record.topic, job.record.partition, job.record.offset, failures,
                        )  # fmt: skip
                        await self.park(job, HANDLER_BUG_RETRY_S)
            finally:
                self._running -= 1
                self._release_slot(job)
                if head:
                    self._heads.release(tenant)
            job.done = True
            following = self._finish(job)
            if following is None:
                return
            job = following
            job.task = task

    async def _acquire_slot(self, job: Job) -> None:
        await self._slots.acquire(job.lane[1])  # the bot (or a keyless record's own lane)
        job.holds_slot = True

    def _release_slot(self, job: Job) -> None:
        if job.holds_slot:
            job.holds_slot = False
            self._slots.release(job.lane[1])

    def _finish(self, job: Job) -> Job | None:
        """Book a finished job; the lane's next job, for the finished one's task to run.

        A next job of another partition (a key met in two after partitions were added) gets a
        task of its own: stopping one partition's tasks must never stop another's records.
        """
        if job.abandoned:
            return None
        following = None
        lane = self._lanes.get(job.lane)
        if lane and lane[0] is job:
            del lane[0]
            if lane:
                if self._accepting and lane[0].tp == job.tp:
                    following = lane[0]
                elif self._accepting:
                    self._start(lane[0])
            else:
                del self._lanes[job.lane]
        self._release_acks(job.tp)
        self._buffered -= 1
        self._buffered_bytes -= job.size
        self._wake()
        return following

    def _forget(self, job: Job) -> None:
        # Out of its lane, but kept in its partition's queue, unfinished: acks stop before it.
        if job.abandoned:
            return
        job.abandoned = True
        lane = self._lanes.get(job.lane)
        if lane is not None:
            with contextlib.suppress(ValueError):
                lane.remove(job)
            if not lane:
                del self._lanes[job.lane]
        self._buffered -= 1
        self._buffered_bytes -= job.size
        self._wake()

    def _release_acks(self, tp: TopicPartition) -> None:
        partition = self._partitions.get(tp)
        while partition and partition[0].done:
            partition.popleft().ack()

    def _wake(self) -> None:
        if self._buffered == 0:
            self._idle.set()
        if self._space_waiters and self._has_space():
            for waiter in self._space_waiters:
                if not waiter.done():
                    waiter.set_result(None)

    # -- observability ----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return self._buffered

    @property
    def buffered_bytes(self) -> int:
        """Bytes of the records held (keys, values and headers)."""
        return self._buffered_bytes

    @property
    def parked(self) -> int:
        return self._parked

    @property
    def held(self) -> int:
        """Heads waiting for their bot to be resumed (:meth:`hold`)."""
        return self._held

    def held_records(self, tenant: bytes) -> int:
        """Records of one bot (the record key) held here, running, waiting or queued."""
        return sum(len(jobs) for lane, jobs in self._lanes.items() if lane[1] == tenant)

    @property
    def running(self) -> int:
        return self._running

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    async def wait_idle(self) -> None:
        """Wait until nothing is buffered (tests and benchmarks)."""
        await self._idle.wait()


def record_size(record: InboundRecord) -> int:
    """What holding ``record`` costs, as counted against ``max_buffered_bytes``."""
    headers = sum(len(name) + len(value or b"") for name, value in record.headers)
    return len(record.key or b"") + len(record.value or b"") + headers


def _lane_of(record: InboundRecord) -> LaneKey:
    # Keyless records have no order to keep: each gets a lane of its own.
    if record.key is None:
        return (record.topic, (record.partition, record.offset))
    scope = record.header(ORDERING_KEY_HEADER)
    if scope is None or not 0 < len(scope) <= ORDERING_KEY_MAX_BYTES:
        return (record.topic, record.key)  # one order for the bot (an oversized key is refused)
    return (record.topic, record.key, scope)
