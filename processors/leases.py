"""A heartbeat that keeps the idempotency lease of every running call alive.

A lease (``idempotency_lease_s``, 15 s by default) is what stops a second worker from calling a
provider while the first still is. Calls may legitimately run much longer (an LLM answer, an
upload), so while a call runs its lease is renewed every ``interval_s`` (a third of the lease):
one task for the whole worker, and the renewals of one beat travel in one Redis pipeline (see
:mod:`processors.redis_scripts`).

A renewal refused means another owner took the request over (this worker stalled past its lease,
e.g. a long GC pause or SIGSTOP): the lease is marked lost, and the processor then lets the new
owner answer the request (see :mod:`processors.processor`). A renewal that fails because Redis is
unreachable is tried again at the next beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from processors.idempotency import IdempotencyStore
from processors.redis_scripts import RedisUnavailableError

log = logging.getLogger("actionstream.leases")


@dataclass(eq=False, slots=True)
class Lease:
    """One claim; ``lost`` turns true once a renewal was refused.

    ``expires_at`` is when the lease runs out by this worker's monotonic clock (measured from
    before the claim or renewal was sent, so never later than Redis's own expiry); ``None``
    until the claim is granted. Only started leases are renewed.
    """

    bot_id: str
    key: str
    owner: str
    lost: bool = False
    expires_at: float | None = None

    @property
    def started(self) -> bool:
        return self.expires_at is not None

    def start(self, expires_at: float) -> None:
        self.expires_at = expires_at


class LeaseHeartbeat:
    """Renews the leases it holds every ``interval_s`` until they are let go."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self._store = store
        self._interval_s = interval_s
        self._clock = clock
        self._held: set[Lease] = set()
        self._task: asyncio.Task[None] | None = None

    def hold(self, lease: Lease) -> _Holding:
        """Keep ``lease`` renewed for the duration of the ``with`` block."""
        return _Holding(self, lease)

    def add(self, lease: Lease) -> None:
        """Start renewing ``lease`` (prefer :meth:`hold`)."""
        self._held.add(lease)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="leases")

    def discard(self, lease: Lease) -> None:
        """Stop renewing ``lease``."""
        self._held.discard(lease)

    @property
    def held(self) -> int:
        return len(self._held)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _beat(self) -> None:
        while self._held:
            await asyncio.sleep(self._interval_s)
            leases = [lease for lease in self._held if lease.started and not lease.lost]
            sent_at = self._clock()
            replies = await asyncio.gather(
                *(self._store.renew(lease.bot_id, lease.key, lease.owner) for lease in leases),
                return_exceptions=True,
            )
            for lease, reply in zip(leases, replies, strict=True):
                if reply is True:
                    lease.start(sent_at + self._store.lease_s)
                elif reply is False and lease in self._held:
                    lease.lost = True
                    log.warning(
                        "lease of bot %s key %r was taken over by another owner mid-call; "
                        "that owner answers the request",
                        lease.bot_id,
                        lease.key,
                    )
                elif isinstance(reply, RedisUnavailableError):
                    log.info("lease renewal failed, retrying next beat: %s", reply)
                elif isinstance(reply, BaseException):
                    log.error("lease renewal raised %r", reply)


class _Holding:
    """One lease held for a ``with`` block (a class: cheaper than a generator per call)."""

    __slots__ = ("_heartbeat", "_lease")

    def __init__(self, heartbeat: LeaseHeartbeat, lease: Lease) -> None:
        self._heartbeat = heartbeat
        self._lease = lease

    def __enter__(self) -> Lease:
        self._heartbeat.add(self._lease)
        return self._lease

    def __exit__(self, *exc_info: object) -> None:
        self._heartbeat.discard(self._lease)
