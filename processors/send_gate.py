"""The last check before a provider request leaves the worker.

Both HTTP seams await the gate right before a request leaves: the httpx clients of
:mod:`integrations.http` in their request hook (:func:`integrations.context.before_send`), the
Telegram aiohttp backend as the request is written to the connection it already holds
(:func:`integrations.context.send_gate`). During an execution the processor answers there with
one :class:`SendGate`:

- **The claim is taken there**, for integrations whose every provider request goes through those
  seams (:attr:`~integrations.base.BaseIntegration.calls_through_seams`). A held claim then means
  "a request was about to leave": a worker killed before that moment leaves no claim behind, so
  its request runs again cleanly instead of coming back as ``OUTCOME_UNKNOWN``. Where the
  worker can write marks (:mod:`processors.call_marks`) that claim is a reservation, and the
  mark "a call may have left" is written in the same step as the request itself. Other
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

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from integrations.context import SendRefusedError
from processors.idempotency import Claim
from processors.leases import Lease


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the gate stopped a request: the claim was not granted, or the lease is gone."""

    claim: Claim | None
    """The claim the gate was refused (BUSY, DONE, or an unknown outcome not to repeat)."""
    reason: str


class Marks(Protocol):
    """How the gate marks a reserved claim "a call may have left" (:mod:`processors.call_marks`).

    With marks, the claim the gate takes is a reservation: the gate marks it right before the
    request leaves, in the same step where it can (``now``), else waiting for Redis (``later``).
    """

    def now(self) -> asyncio.Future[Any] | None:
        """Write the mark now; its reply's future, or ``None`` when it could not be written."""

    async def later(self) -> None:
        """Mark, waiting for Redis's reply."""


OnReply = Callable[[Claim], None]
"""Called with the claim as soon as Redis's reply is read (before the claimant resumes)."""
ClaimFn = Callable[[OnReply | None], Awaitable[Claim]]


class SendGate:
    """One execution's gate: claims on first use (if asked to) and checks the lease every time."""

    __slots__ = (
        "_claim",
        "_clock",
        "_margin_s",
        "_marks",
        "lease",
        "mark_reply",
        "passed",
        "refusal",
    )

    def __init__(
        self,
        lease: Lease,
        *,
        lease_s: float,
        claim: ClaimFn | None = None,
        marks: Marks | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self._margin_s = min(1.0, lease_s / 10)
        self._claim = claim
        self._marks = marks
        self._clock = clock
        self.mark_reply: asyncio.Future[Any] | None = None
        """Redis's reply to a mark written in the claim's reply step (see :class:`Marks`)."""
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
        return await claim_fn(None)

    async def __call__(self, send: Callable[[], None] | None = None) -> bool:
        """Let one request leave, or raise :class:`SendRefusedError`.

        With ``send`` (which must not raise), a claim taken here sends the request itself, in
        the task that reads the claim's reply: no other task runs between the claim reaching
        Redis and the request leaving, which is the window where a worker killed leaves an
        "unknown" outcome for a request that never left. ``True`` when ``send`` was called;
        otherwise the caller sends.
        """
        sent = False
        if self.refusal is None and self._claim is not None:
            claim_fn, self._claim = self._claim, None
            judged = False

            def on_reply(claim: Claim) -> None:
                nonlocal judged, sent
                judged = True
                self._judge(claim)
                if self.refusal is None and self._marks is not None:
                    self.mark_reply = self._marks.now()
                    if self.mark_reply is None:
                        return  # not written: marked the slow way below, before it leaves
                if self.refusal is None and send is not None:
                    self.passed += 1  # before: a failed write may still have sent some bytes
                    sent = True
                    send()

            claim = await claim_fn(on_reply)
            if not judged:
                self._judge(claim)
            if self.refusal is None and self._marks is not None and self.mark_reply is None:
                await self._marks.later()
        elif self.refusal is None and (gone := self._lease_gone()) is not None:
            self.refusal = Refusal(None, gone)
        if self.refusal is not None:
            raise SendRefusedError(f"not sent: {self.refusal.reason}")
        if not sent:
            self.passed += 1
        return sent

    def _judge(self, claim: Claim) -> None:
        """After the claim: refuse unless it was granted and its lease is good."""
        if not self.lease.started:
            self.refusal = Refusal(claim, f"claim not granted ({claim.state.value})")
        elif (gone := self._lease_gone()) is not None:
            self.refusal = Refusal(None, gone)

    def _lease_gone(self) -> str | None:
        if self.lease.lost:
            return "another owner took the lease over"
        expires_at = self.lease.expires_at
        if expires_at is not None and self._clock() >= expires_at - self._margin_s:
            return "the lease ran out before the request could leave"
        return None
