"""The last check before a provider request leaves the worker.

Both HTTP seams await the gate right before a request leaves: the httpx clients of
:mod:`integrations.http` in their request hook (:func:`integrations.context.before_send`), the
Telegram aiohttp backend as the request is written to the connection it already holds
(:func:`integrations.context.send_gate`). During an execution the processor answers there with
one :class:`SendGate`:

- **The claim is taken there**, for integrations whose every provider request goes through those
  seams (:attr:`~integrations.base.BaseIntegration.calls_through_seams`). A held claim then means
  "a request was about to leave": a worker killed before that moment leaves no claim behind, so
  its request runs again cleanly instead of coming back as ``OUTCOME_UNKNOWN``. Other
  integrations are claimed by the processor just before the call, and the gate only checks.
- **Every request checks that this worker still owns the call**: its lease was not lost to
  another owner, and has not run out by this worker's own clock. A worker that stalled past its
  lease (SIGSTOP, a long GC pause, a starved loop) could otherwise wake up and send a message
  that the new owner already reported, or send it after the bot's next one.

A refusal raises :class:`~integrations.context.SendRefusedError` inside the integration, which
reports some error; the processor then goes by :attr:`SendGate.refusal` instead, since nothing
was sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from integrations.context import SendRefusedError
from processors.idempotency import Claim
from processors.leases import Lease


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the gate stopped a request: the claim was not granted, or the lease is gone."""

    claim: Claim | None
    """The claim the gate was refused (BUSY, DONE, or an unknown outcome not to repeat)."""
    reason: str


class SendGate:
    """One execution's gate: claims on first use (if asked to) and checks the lease every time."""

    def __init__(
        self,
        lease: Lease,
        *,
        lease_s: float,
        claim: Callable[[], Awaitable[Claim]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self._margin_s = min(1.0, lease_s / 10)
        self._claim = claim
        self._clock = clock
        self.refusal: Refusal | None = None
        self.passed = 0
        """Requests let through: more than none means a call may have reached the provider."""

    async def claim_now(self) -> Claim | None:
        """Take the claim if it is the gate's to take and not taken yet; ``None`` otherwise.

        ``claim`` starts the lease when the claim is granted; a lease not started means refused.
        """
        if self._claim is None:
            return None
        claim_fn, self._claim = self._claim, None
        return await claim_fn()

    async def __call__(self) -> None:
        if self.refusal is None:
            claim = await self.claim_now()
            if claim is not None and not self.lease.started:
                self.refusal = Refusal(claim, f"claim not granted ({claim.state.value})")
            elif (gone := self._lease_gone()) is not None:
                self.refusal = Refusal(None, gone)
        if self.refusal is not None:
            raise SendRefusedError(f"not sent: {self.refusal.reason}")
        self.passed += 1

    def _lease_gone(self) -> str | None:
        if self.lease.lost:
            return "another owner took the lease over"
        expires_at = self.lease.expires_at
        if expires_at is not None and self._clock() >= expires_at - self._margin_s:
            return "the lease ran out before the request could leave"
        return None
