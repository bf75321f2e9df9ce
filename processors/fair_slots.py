"""Execution slots shared fairly among tenants (bots).

A plain semaphore serves waiters first come, first served: one bot with thousands of ready lane
heads (a broadcast over many ordering keys) would take every slot as they free up, and the other
bots would wait behind its whole backlog. :class:`FairSlots` holds at most ``per_tenant`` slots
for any one tenant and hands each freed slot to the next tenant in a round-robin over those that
are waiting and under their cap, so a tenant with one waiting action gets the next slot however
many another one queued.

Every operation is O(1): tenants at their cap leave the rotation until one of their slots is
released.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Hashable


class FairSlots:
    """``total`` slots, at most ``per_tenant`` held by one tenant, handed out round-robin."""

    def __init__(self, total: int, per_tenant: int) -> None:
        if total < 1 or per_tenant < 1:
            raise ValueError(f"need total >= 1 and per_tenant >= 1, got {total}, {per_tenant}")
        self._free = total
        self._per_tenant = per_tenant
        self._held: dict[Hashable, int] = {}
        self._waiters: dict[Hashable, deque[asyncio.Future[None]]] = {}
        # Tenants with waiters and room under their cap, in turn order (values unused).
        self._turns: OrderedDict[Hashable, None] = OrderedDict()

    async def acquire(self, tenant: Hashable) -> None:
        """Wait for a slot for ``tenant``; give it back with :meth:`release`."""
        if self._free and not self._turns and self._held.get(tenant, 0) < self._per_tenant:
            self._grant(tenant)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tenant, deque()).append(future)
        if self._held.get(tenant, 0) < self._per_tenant:
            self._turns.setdefault(tenant)
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(tenant)  # granted as the waiter was cancelled: give it back
            else:
                self._drop(tenant, future)
            raise

    def release(self, tenant: Hashable) -> None:
        held = self._held[tenant] - 1
        if held:
            self._held[tenant] = held
        else:
            del self._held[tenant]
        self._free += 1
        if held == self._per_tenant - 1 and self._waiters.get(tenant):
            self._turns.setdefault(tenant)  # back in the rotation, at the end
        self._dispatch()

    def held(self, tenant: Hashable) -> int:
        """Slots ``tenant`` holds now."""
        return self._held.get(tenant, 0)

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        """Acquirers waiting for a slot, all tenants together."""
        return sum(len(futures) for futures in self._waiters.values())

    def _grant(self, tenant: Hashable) -> None:
        self._free -= 1
        self._held[tenant] = self._held.get(tenant, 0) + 1

    def _dispatch(self) -> None:
        while self._free and self._turns:
            tenant = next(iter(self._turns))
            futures = self._waiters.get(tenant)
            while futures and futures[0].done():  # cancelled, not yet dropped by its waiter
                futures.popleft()
            del self._turns[tenant]
            if not futures:
                self._waiters.pop(tenant, None)
                continue
            future = futures.popleft()
            self._grant(tenant)
            future.set_result(None)
            if not futures:
                del self._waiters[tenant]
            elif self._held[tenant] < self._per_tenant:
                self._turns[tenant] = None  # its next waiter queues behind the others

    def _drop(self, tenant: Hashable, future: asyncio.Future[None]) -> None:
        futures = self._waiters.get(tenant)
        if futures is None:
            return
        try:
            futures.remove(future)
        except ValueError:
            return
        if not futures:
            del self._waiters[tenant]
            self._turns.pop(tenant, None)
