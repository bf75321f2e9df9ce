"""When a claim is taken, how long it lives, and who answers when it changes hands.

In process over real Redis (support/processing.py). Two harnesses on one namespace are two
workers sharing Redis. A claim is taken right before the call, so a request that waits (rate
limit, backoff) holds none and an interruption then leaves no doubt; a lease is renewed while its
call runs; an attempt whose lease another owner took over never publishes a second answer.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from integrations.base import CredentialsResolverLike, RateLimit, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import OutcomeUnknownError, PermanentError, TransientError
from processors.idempotency import ClaimState
from schemas import DeadLetter, IntegrationRequest, IntegrationResult, ResultStatus
from support.processing import CODEC, TOPICS, Harness, Scripted, request
from topics.audit import MAYBE_EXECUTED_HEADER

NON_DUPLICATE = {ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.OUTCOME_UNKNOWN}


class Slow(Scripted):
    """A scripted integration whose calls take ``delay_s``."""

    def __init__(self, action: str, script: list[Any], delay_s: float, **meta: Any) -> None:
        super().__init__(action, script, **meta)
        self.delay_s = delay_s
        self.started = 0

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        self.started += 1
        await asyncio.sleep(self.delay_s)
        return await super().execute(config, credentials_resolver, bot_id, logger)


async def next_claim(h: Harness, req: IntegrationRequest) -> ClaimState:
    """What the next worker to claim ``req`` would find."""
    return (await h.store.claim(req.bot_id, str(req.request_id), "next-worker")).state


async def wait_for(condition: Any, timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling a test double's counters
            await asyncio.sleep(0.01)


async def test_a_request_waiting_for_a_rate_limit_holds_no_claim(
    make: Any, redis_client: aioredis.Redis
) -> None:
    action = Scripted(
        "limited", [], rate_limits=(RateLimit(scope="credential", limit=1, period_s=30),)
    )
    h = make(action)
    first, parked = request("limited"), request("limited", bot="bot-1")
    await h.send(first)
    await h.send(parked)
    await wait_for(lambda: len(h.sink.results()) == 1)
    await asyncio.sleep(0.1)
    assert await redis_client.exists(h.store.key(parked.bot_id, str(parked.request_id))) == 0
    await h.scheduler.drain(0.5)  # a deploy: the parked request is given up
    assert await next_claim(h, parked) is ClaimState.ACQUIRED, "a parked request left doubt"
    assert action.calls == 1


async def test_draining_mid_call_leaves_doubt_but_between_attempts_none(make: Any) -> None:
    calling = Slow("calling", [], delay_s=5)
    backing_off = Scripted("backing_off", [TransientError("503 from provider")])
    h = make(calling, backing_off, backoff_base_s=2.0, inline_delay_limit_s=5.0)
    mid_call, between = request("calling"), request("backing_off", bot="bot-2")
    await h.send(mid_call)
    await h.send(between)
    await wait_for(lambda: backing_off.calls == 1 and calling.calls == 0)
    await asyncio.sleep(0.1)  # bot-2 now waits out its backoff; bot-1's call runs
    await h.scheduler.drain(0.1)
    assert await next_claim(h, mid_call) is ClaimState.ACQUIRED_AFTER_UNKNOWN
    assert await next_claim(h, between) is ClaimState.ACQUIRED
    assert h.sink.results() == []


async def test_a_call_longer_than_the_lease_keeps_it_and_is_made_once(make: Any) -> None:
    action = Slow("long", [], delay_s=2.0, on_unknown_outcome=UnknownOutcomePolicy.REPORT)
    first, second = make(action), make(action)  # two workers, leases of 0.5 s
    req = request("long")
    await first.send(req)
    await wait_for(lambda: first.processor._leases.held == 1)
    await asyncio.sleep(0.7)  # past the lease: only the heartbeat keeps it
    await second.send(req)  # e.g. redelivered to another worker after a rebalance
    await first.settle()
    await second.settle()
    assert action.calls == 1
    assert [r.status for r in first.sink.results()] == [ResultStatus.SUCCEEDED]
    assert [r.status for r in second.sink.results()] == [ResultStatus.DUPLICATE]


async def test_a_lease_taken_over_mid_call_yields_to_the_first_answer(make: Any) -> None:
    # The first worker stalls (no heartbeat for 30 s: SIGSTOP, a long pause) mid-call; its lease
    # of 0.5 s runs out and a second worker takes over. Whatever each does, one answer.
    action = Slow("stalled", [], delay_s=1.5, on_unknown_outcome=UnknownOutcomePolicy.REPORT)
    stalled = make(action, idempotency_lease_s=30)  # store lease 0.5 s, heartbeat every 10 s
    taker = make(action)
    req = request("stalled")
    await stalled.send(req)
    await wait_for(lambda: action.started == 1)
    await asyncio.sleep(0.7)
    await taker.send(req)
    await taker.settle()
    # The taker cannot know whether the stalled call went out: at-most-once, OUTCOME_UNKNOWN.
    assert [r.status for r in taker.sink.results()] == [ResultStatus.OUTCOME_UNKNOWN]
    await stalled.settle()
    # The stalled call succeeded after all, but the taker answered first.
    assert [r.status for r in stalled.sink.results()] == [ResultStatus.DUPLICATE]
    assert action.calls == 1


async def test_a_failed_attempt_whose_lease_was_taken_over_passes_the_answer_on(make: Any) -> None:
    action = Slow(
        "stalled_fail", [TransientError("503")], delay_s=1.5,
        on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    )  # fmt: skip
    stalled = make(action, idempotency_lease_s=30)
    taker = make(action)
    req = request("stalled_fail")
    await stalled.send(req)
    await wait_for(lambda: action.started == 1)
    await asyncio.sleep(0.7)
    await taker.send(req)
    await stalled.settle()
    await taker.settle()
    answers = [r for h in (stalled, taker) for r in h.sink.results() if r.status in NON_DUPLICATE]
    assert len(answers) == 1, answers
    # The superseded attempt waited for the taker's answer and passed it on.
    assert [r.status for r in stalled.sink.results()] == [ResultStatus.DUPLICATE]
    assert action.calls == 1


async def test_a_failed_attempt_whose_new_owner_vanished_still_answers(make: Any) -> None:
    # The owner that took the lease over never answers (a worker stopped right after its claim):
    # the superseded attempt must not drop the request on the assumption that it will.
    action = Slow(
        "vanished", [TransientError("503")], delay_s=1.5,
        on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    )  # fmt: skip
    stalled = make(action, idempotency_lease_s=30)  # store lease 0.5 s, heartbeat every 10 s
    req = request("vanished")
    await stalled.send(req)
    await wait_for(lambda: action.started == 1)
    await asyncio.sleep(0.7)
    ghost = await stalled.store.claim(req.bot_id, str(req.request_id), "ghost")
    assert ghost.state is ClaimState.ACQUIRED_AFTER_UNKNOWN
    await stalled.settle()
    assert [r.status for r in stalled.sink.results()] == [ResultStatus.OUTCOME_UNKNOWN]
    assert action.calls == 1


async def test_failures_say_whether_an_attempt_may_have_had_its_effect(make: Any) -> None:
    # What the replay guard reads: 0 when no attempt can have had an effect, 1 when one may.
    refused = Scripted("refused", [PermanentError("chat not found")])
    timed_out = Scripted(
        "timed_out",
        [OutcomeUnknownError("read timeout"), TransientError("503")],
        on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
        max_attempts=2,
    )
    reported = Scripted("reported", [OutcomeUnknownError("read timeout")])
    h = make(refused, timed_out, reported)
    for action in ("refused", "timed_out", "reported"):
        await h.send(request(action, bot=f"bot-{action}"))
    await h.settle()

    def header(topic: str) -> dict[str, bytes]:
        found = {}
        for value, headers in h.sink.on(topic):
            decoded = CODEC.decode(DeadLetter if topic == TOPICS.dlq else IntegrationResult, value)
            found[decoded.integration_id] = dict(headers)[MAYBE_EXECUTED_HEADER]
        return found

    expected = {"script_refused": b"0", "script_timed_out": b"1", "script_reported": b"1"}
    assert header(TOPICS.results) == expected
    assert header(TOPICS.dlq) == expected
