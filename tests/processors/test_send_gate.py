"""The send gate: the claim is taken as a request leaves, and no request leaves without its lease.

The gate alone with a hand-driven clock, then through the processor over real Redis with an
integration that passes the gate the way both HTTP seams do (``before_send`` before each request).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar
from uuid import UUID

import pytest
import redis
import redis.asyncio as aioredis

from integrations.base import CredentialsResolverLike, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.context import SendRefusedError, before_send, send_gate
from integrations.errors import PermanentError, RateLimitedError
from processors.call_marks import CallMarks
from processors.idempotency import MARK_SCRIPT, Claim, ClaimState
from processors.leases import Lease
from processors.send_gate import OnReply, SendGate
from schemas import ResultStatus
from support.processing import Harness, Scripted, request
from topics.audit import MAYBE_EXECUTED_HEADER


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate_for(
    claims: list[Claim] | None, clock: Clock, *, granted: set[ClaimState] | None = None
) -> tuple[SendGate, list[Claim]]:
    taken: list[Claim] = []

    grants = granted or {ClaimState.ACQUIRED}
    lease = Lease("bot-1", "key-1", "owner-1")

    async def claim(then: OnReply | None) -> Claim:
        # as the processor's: a granted claim starts the lease, then ``then`` sees it
        assert claims
        started = clock()
        taken.append(claims.pop(0))
        if taken[-1].state in grants:
            lease.start(started + 10)
        if then is not None:
            then(taken[-1])
        return taken[-1]

    if claims is None:  # claimed before the call: the gate only checks
        lease.start(clock() + 10)
        return SendGate(lease, lease_s=10, clock=clock), taken
    return SendGate(lease, lease_s=10, claim=claim, clock=clock), taken


async def test_the_gate_claims_once_then_only_checks_the_lease() -> None:
    clock = Clock()
    gate, taken = gate_for([Claim(ClaimState.ACQUIRED, attempts=1)], clock)
    await gate()
    clock.now += 5
    await gate()  # a second request of the same call: no second claim
    assert len(taken) == 1
    assert gate.passed == 2
    assert gate.lease.expires_at == pytest.approx(110.0)


@pytest.mark.parametrize(
    "state", [ClaimState.BUSY, ClaimState.DONE, ClaimState.ACQUIRED_AFTER_UNKNOWN]
)
async def test_a_claim_not_granted_stops_every_request(state: ClaimState) -> None:
    clock = Clock()
    gate, _ = gate_for([Claim(state, attempts=1)], clock)
    for _ in range(2):
        with pytest.raises(SendRefusedError, match=state.value):
            await gate()
    assert gate.passed == 0
    assert gate.refusal is not None
    assert gate.refusal.claim is not None
    assert gate.refusal.claim.state is state


async def test_a_lease_lost_to_another_owner_stops_the_next_request() -> None:
    clock = Clock()
    gate, _ = gate_for(None, clock)
    await gate()
    gate.lease.lost = True
    with pytest.raises(SendRefusedError, match="another owner"):
        await gate()
    assert gate.passed == 1
    assert gate.refusal is not None
    assert gate.refusal.claim is None


async def test_a_lease_run_out_by_the_local_clock_stops_a_woken_worker() -> None:
    # SIGSTOP, a long GC pause, a starved loop: nobody renewed the lease meanwhile.
    clock = Clock()
    gate, _ = gate_for(None, clock)
    clock.now += 8.9  # a 10 s lease, and a 1 s margin for the request to reach the provider
    await gate()
    clock.now += 0.2
    with pytest.raises(SendRefusedError, match="ran out"):
        await gate()


async def test_a_renewed_lease_keeps_the_gate_open() -> None:
    clock = Clock()
    gate, _ = gate_for(None, clock)
    clock.now += 30
    gate.lease.start(clock() + 10)  # what the heartbeat does on a successful renewal
    await gate()
    assert gate.refusal is None


async def test_a_granted_claim_sends_in_its_reply_step_a_refused_one_never() -> None:
    clock = Clock()
    sent: list[str] = []
    gate, _ = gate_for([Claim(ClaimState.ACQUIRED, attempts=1)], clock)
    assert await gate(lambda: sent.append("sent")) is True
    assert (sent, gate.passed) == (["sent"], 1)
    assert await gate(lambda: sent.append("again")) is False  # claimed: the caller sends
    assert (sent, gate.passed) == (["sent"], 2)
    gate, _ = gate_for([Claim(ClaimState.BUSY, attempts=1)], clock)
    with pytest.raises(SendRefusedError, match="busy"):
        await gate(lambda: sent.append("busy"))
    assert (sent, gate.passed) == (["sent"], 0)


# -- through the processor ------------------------------------------------------------------------


class Gated(Scripted):
    """A scripted integration that sends through the seams: ``before_send`` before each request.

    Each step is ``(requests, outcome)``: how many requests the call sends (0 for an error found
    before any: missing credentials, a bad chat id), each after ``gap_s``, then what it returns.
    """

    calls_through_seams: ClassVar[bool] = True

    def __init__(self, action: str, steps: list[tuple[int, Any]], gap_s: float = 0, **meta: Any):
        super().__init__(action, [outcome for _, outcome in steps], **meta)
        self.requests = [n for n, _ in steps]
        self.gap_s = gap_s
        self.sent = 0
        self.steps: list[tuple[str, bool]] = []

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        for _ in range(self.requests.pop(0) if self.requests else 1):
            await asyncio.sleep(self.gap_s)
            await before_send()
            self.sent += 1
        return await super().execute(config, credentials_resolver, bot_id, logger)


OK = {"response": {"ok": True, "result": 1}}


async def test_a_failure_before_any_request_leaves_no_claim_and_no_doubt(
    make: Any, redis_client: aioredis.Redis
) -> None:
    action = Gated("early", [(0, PermanentError("chat_id 0: chat not found"))])
    h: Harness = make(action)
    req = request("early")
    await h.send(req)
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert action.sent == 0
    assert await redis_client.exists(h.store.key(req.bot_id, str(req.request_id))) == 0
    assert h.sink.records  # the result and its dead letter, neither marked "maybe executed"
    for *_, headers in h.sink.records:
        assert dict(headers)[MAYBE_EXECUTED_HEADER] == b"0"


async def test_a_finished_request_redelivered_never_reaches_the_provider(make: Any) -> None:
    action = Gated("once", [(1, OK), (1, OK)])
    h: Harness = make(action)
    req = request("once")
    await h.send(req)
    await h.settle()
    await h.send(req)  # redelivered after a crash, or published twice
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE]
    assert action.sent == 1


async def test_a_success_without_a_request_is_still_answered_once(make: Any) -> None:
    # e.g. an action that finds nothing to do: it is claimed when it finishes, not before.
    action = Gated("nothing_to_send", [(0, OK), (0, OK)])
    h: Harness = make(action)
    req = request("nothing_to_send")
    await h.send(req)
    await h.send(req)
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE]


async def test_a_call_whose_lease_ran_out_sends_nothing_more(make: Any) -> None:
    # The heartbeat is held off (every 10 s) so the 0.5 s lease runs out between two requests of
    # one call: the second never leaves, and since the first did, the outcome is in doubt.
    action = Gated(
        "two_requests", [(2, OK)], gap_s=0.7, on_unknown_outcome=UnknownOutcomePolicy.REPORT
    )
    h: Harness = make(action, idempotency_lease_s=30)
    await h.send(request("two_requests"))
    await h.settle()
    assert action.sent == 1
    assert [r.status for r in h.sink.results()] == [ResultStatus.OUTCOME_UNKNOWN]


async def test_a_rate_limited_call_is_retried_and_answered(make: Any) -> None:
    action = Gated("limited", [(1, RateLimitedError("429", retry_after_s=0.05)), (1, OK)])
    h: Harness = make(action)
    await h.send(request("limited"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.sent == 2


class SendsInTheReplyStep(Gated):
    """Passes the gate with ``send``, as the Telegram backend does for a form."""

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        gate = send_gate()
        assert gate is not None
        own = asyncio.current_task()

        def send() -> None:  # where the request would be written to its connection
            self.steps.append(("sent", asyncio.current_task() is own))

        self.steps.append(("returned", await gate(send)))
        return await Scripted.execute(self, config, credentials_resolver, bot_id, logger)


async def test_the_request_leaves_in_the_step_that_reads_the_claims_reply(make: Any) -> None:
    # Over real Redis: the ScriptRunner's task that reads the pipeline's replies sends it, before
    # the integration's own task resumes (processors/redis_scripts.py, ``then``).
    action = SendsInTheReplyStep("now", [(1, OK)])
    h: Harness = make(action)
    await h.send(request("now"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.steps == [("sent", False), ("returned", True)]


async def test_with_marks_the_mark_is_in_redis_when_the_request_leaves(
    make: Any, redis_client: aioredis.Redis, redis_url: str
) -> None:
    # The gate's claim is a reservation; the mark is written in the same step, before the
    # request (processors/call_marks.py). A worker killed between the two cannot leave a
    # request that left under an unmarked reservation.
    marks = CallMarks(redis_client, MARK_SCRIPT)
    seen: list[bytes | None] = []
    try:
        marks.write(b"warm-up")  # starts its connection
        await asyncio.sleep(0.2)

        class Checks(SendsInTheReplyStep):
            def __init__(self) -> None:
                super().__init__("marked", [(1, OK)])
                self.record = b""

            async def execute(self, *args: Any) -> dict[str, Any]:
                gate = send_gate()
                assert gate is not None

                def send() -> None:  # blocking on purpose: the loop must not turn here
                    time.sleep(0.05)  # only Redis runs meanwhile
                    with redis.Redis.from_url(redis_url) as plain:
                        seen.append(plain.hget(self.record, "m"))

                assert await gate(send) is True
                return await Scripted.execute(self, *args)

        action = Checks()
        h: Harness = make(action, marks=marks)
        req = request("marked")
        action.record = h.store.key(req.bot_id, str(req.request_id))
        await h.send(req)
        await h.settle()
    finally:
        await marks.aclose()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert seen == [b"1"]
