"""FairSlots: a per-tenant cap, round-robin hand-out, cancellation that never leaks a slot; and
the scheduler giving a trickle of bots their turn beside one bot with a huge backlog."""

from __future__ import annotations

import asyncio
import random

import pytest

from processors.fair_slots import FairSlots
from processors.ordering import Job, OrderedScheduler
from processors.records import InboundRecord
from schemas.events import ORDERING_KEY_HEADER


async def test_a_tenant_never_holds_more_than_its_cap() -> None:
    slots = FairSlots(total=10, per_tenant=3)
    for _ in range(3):
        await slots.acquire("noisy")
    blocked = asyncio.ensure_future(slots.acquire("noisy"))
    await asyncio.sleep(0)
    assert not blocked.done() and slots.free == 7
    await slots.acquire("quiet")  # others still get slots at once
    slots.release("noisy")
    await asyncio.wait_for(blocked, 1)
    assert slots.held("noisy") == 3 and slots.held("quiet") == 1


async def test_freed_slots_go_round_robin_not_first_come() -> None:
    slots = FairSlots(total=1, per_tenant=10)
    await slots.acquire("holder")
    order: list[str] = []

    async def want(tenant: str) -> None:
        await slots.acquire(tenant)
        order.append(tenant)

    # The noisy tenant queues five first; two others come after it.
    tasks = [asyncio.ensure_future(want("noisy")) for _ in range(5)]
    tasks += [asyncio.ensure_future(want("a")), asyncio.ensure_future(want("b"))]
    await asyncio.sleep(0)
    for _ in range(7):
        holder = "holder" if not order else order[-1]
        slots.release(holder)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order[:3] == ["noisy", "a", "b"], order
    assert order[3:] == ["noisy"] * 4


async def test_cancelled_waiters_leave_no_slot_behind() -> None:
    slots = FairSlots(total=2, per_tenant=2)
    rng = random.Random(7)

    def release_all() -> None:
        for tenant in "abc":
            for _ in range(slots.held(tenant)):
                slots.release(tenant)

    for _ in range(200):
        tasks = [asyncio.ensure_future(slots.acquire(rng.choice("abc"))) for _ in range(6)]
        await asyncio.sleep(0)
        while not all(task.done() for task in tasks):
            release_all()  # grants go to waiters that have not resumed yet...
            for task in tasks:
                if not task.done() and rng.random() < 0.3:
                    task.cancel()  # ...and some of them are cancelled right then
            await asyncio.sleep(0)
        release_all()
        assert slots.free == 2 and slots.waiting == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="per_tenant >= 1"):
        FairSlots(total=4, per_tenant=0)


async def test_a_trickle_of_bots_is_served_beside_a_bot_with_a_huge_backlog() -> None:
    """One bot with 2,000 ready actions over 1,000 ordering keys, 20 other bots with one each,
    submitted after it: with a cap of 4 per bot and 8 slots, the others' actions all start
    while the noisy bot still has most of its backlog, and it never runs more than 4 at once."""
    started: list[bytes] = []
    noisy_running = noisy_most = 0

    async def handler(job: Job) -> None:
        nonlocal noisy_running, noisy_most
        bot = job.record.key or b""
        started.append(bot)
        if bot == b"noisy":
            noisy_running += 1
            noisy_most = max(noisy_most, noisy_running)
        await asyncio.sleep(0.001)
        if bot == b"noisy":
            noisy_running -= 1

    def rec(bot: str, offset: int, scope: str | None = None) -> InboundRecord:
        headers = () if scope is None else ((ORDERING_KEY_HEADER, scope.encode()),)
        return InboundRecord("t", 0, offset, bot.encode(), b"v", headers, 0)

    scheduler = OrderedScheduler(
        handler, max_in_flight=8, max_in_flight_per_bot=4, max_buffered=5_000
    )
    offset = 0
    for n in range(2_000):
        assert await scheduler.submit(rec("noisy", offset, f"chat-{n % 1000}"), lambda: None)
        offset += 1
    for b in range(20):
        assert await scheduler.submit(rec(f"bot-{b}", offset), lambda: None)
        offset += 1
    await asyncio.wait_for(scheduler.wait_idle(), 60)
    last_other = max(i for i, bot in enumerate(started) if bot != b"noisy")
    assert last_other < 100, f"the other bots' last action started {last_other}th of 2,020"
    assert noisy_most == 4


async def test_a_parking_bot_parks_at_most_its_cap_of_heads() -> None:
    """A rate-limited broadcast: every action parks first. Only ``max_in_flight_per_bot`` of
    its heads start, so it cannot fill ``max_parked``, which would stop fetching for everyone."""
    most_parked = 0

    async def handler(job: Job) -> None:
        nonlocal most_parked
        await job.park(0.01)
        assert job.scheduler is not None
        most_parked = max(most_parked, job.scheduler.parked)

    scheduler = OrderedScheduler(
        handler, max_in_flight=8, max_in_flight_per_bot=4, max_buffered=1_000, max_parked=50
    )
    for n in range(300):
        headers = ((ORDERING_KEY_HEADER, f"chat-{n}".encode()),)
        record = InboundRecord("t", 0, n, b"noisy", b"v", headers, 0)
        assert await scheduler.submit(record, lambda: None)
    await asyncio.wait_for(scheduler.wait_idle(), 60)
    assert 1 <= most_parked <= 4
