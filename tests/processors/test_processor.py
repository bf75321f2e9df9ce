"""Failure routing, idempotency and policies of RequestProcessor, in process.

Real Redis (claims, rate limits) and the real scheduler; Kafka is out of the picture here: the
sink records what would be published (the pipeline tests cover Kafka end to end).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from integrations.base import RateLimit, SideEffect, UnknownOutcomePolicy
from integrations.errors import (
    AuthError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from processors.idempotency import ClaimState
from processors.retries import ATTEMPTS_HEADER, decode_attempts
from schemas import IntegrationRequest, ResultStatus
from schemas import utc_now as now
from support.processing import CODEC, TOPICS, Scripted, request


async def test_success_then_a_replay_is_a_duplicate_without_a_second_call(make: Any) -> None:
    action = Scripted("send", [])
    h = make(action)
    original = request("send")
    await h.send(original)
    await h.settle()
    await h.send(original)  # the same request redelivered or replayed
    await h.settle()
    first, second = h.sink.results()
    assert first.status is ResultStatus.SUCCEEDED
    assert second.status is ResultStatus.DUPLICATE
    assert second.request_id == original.request_id
    assert second.response == first.response
    assert action.calls == 1
    assert h.sink.dead_letters() == []


async def test_transient_failures_back_off_then_succeed(make: Any) -> None:
    action = Scripted("flaky", [TransientError("503 upstream"), TransientError("503 again")])
    h = make(action)
    await h.send(request("flaky"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.SUCCEEDED
    assert result.attempt == 3
    assert action.calls == 3


async def test_after_the_last_attempt_failed_with_every_error_and_a_dead_letter(
    make: Any,
) -> None:
    action = Scripted("down", [TransientError(f"boom {i}") for i in range(10)], max_attempts=3)
    h = make(action)
    req = request("down")
    await h.send(req)
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.category == "transient"
    assert result.error.message.startswith("3 attempts: #1 transient 503: boom 0; #2")
    (letter,) = h.sink.dead_letters()
    assert letter.attempts == 3
    assert letter.request_id == str(req.request_id)
    assert letter.first_failure_at is not None
    assert letter.first_failure_at <= letter.last_failure_at  # type: ignore[operator]
    assert action.calls == 3
    # A failed request is not stored as done: a replay runs it again.
    claim = await h.store.claim(req.bot_id, str(req.request_id), "operator")
    assert claim.state is ClaimState.ACQUIRED


async def test_auth_failure_invalidates_credentials_and_retries_once(make: Any) -> None:
    action = Scripted("auth", [AuthError("token revoked"), AuthError("still revoked")])
    h = make(action)
    await h.send(request("auth", bot="bot-a"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.category == "auth"
    assert h.resolver.invalidated == [("bot-a", "script")]
    assert action.calls == 2
    assert len(h.sink.dead_letters()) == 1


async def test_auth_failure_then_fresh_credentials_succeed(make: Any) -> None:
    action = Scripted("auth2", [AuthError("token revoked")])
    h = make(action)
    await h.send(request("auth2"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.calls == 2


async def test_permanent_failure_is_final_at_once(make: Any) -> None:
    action = Scripted("perm", [PermanentError("chat not found")])
    h = make(action)
    await h.send(request("perm"))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert action.calls == 1
    assert len(h.sink.dead_letters()) == 1


async def test_expired_request_is_not_executed(make: Any) -> None:
    action = Scripted("late", [])
    h = make(action)
    await h.send(request("late", deadline=now() - timedelta(seconds=1)))
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.EXPIRED
    assert action.calls == 0
    assert h.sink.dead_letters() == []


async def test_rate_limited_bot_is_parked_while_others_flow(make: Any) -> None:
    limited = Scripted("limited", [RateLimitedError("slow down", retry_after_s=0.4)])
    other = Scripted("other", [])
    h = make(limited, other)
    await h.send(request("limited", bot="bot-slow"))
    await asyncio.sleep(0.05)
    await h.send(request("other", bot="bot-fast"))
    await h.settle()
    results = h.sink.results()
    assert [r.bot_id for r in results] == ["bot-fast", "bot-slow"]
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    assert limited.calls == 2


async def test_a_long_wait_goes_to_the_retry_topic(make: Any) -> None:
    action = Scripted("later", [RateLimitedError("come back in an hour", retry_after_s=3600)])
    h = make(action)
    req = request("later")
    await h.send(req, headers=[("traceparent", b"00-abc-def-01")])
    await h.settle()
    assert h.sink.results() == []
    ((value, headers),) = h.sink.on(TOPICS.retry)
    retried = CODEC.decode(IntegrationRequest, value)
    assert retried.request_id == req.request_id
    assert retried.attempt == 2
    assert retried.not_before is not None
    assert retried.not_before > now() + timedelta(minutes=59)
    history = decode_attempts(dict(headers)[ATTEMPTS_HEADER])
    assert [a.category for a in history] == ["rate_limited"]
    assert dict(headers)["traceparent"] == b"00-abc-def-01"
    # the claim was released cleanly: the retry may run it
    claim = await h.store.claim(req.bot_id, str(req.request_id), "retry-worker")
    assert claim.state is ClaimState.ACQUIRED


async def test_maybe_delivered_non_idempotent_action_reports_outcome_unknown(make: Any) -> None:
    action = Scripted(
        "once",
        [OutcomeUnknownError("read timeout after sending")],
        on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    )
    h = make(action)
    req = request("once")
    await h.send(req)
    await h.settle()
    (result,) = h.sink.results()
    assert result.status is ResultStatus.OUTCOME_UNKNOWN
    assert action.calls == 1
    assert len(h.sink.dead_letters()) == 1
    await h.send(req)  # redelivered: still no second call
    await h.settle()
    assert h.sink.results()[-1].status is ResultStatus.DUPLICATE
    assert action.calls == 1


async def test_maybe_delivered_action_with_reexecute_policy_is_retried(make: Any) -> None:
    action = Scripted(
        "twice",
        [OutcomeUnknownError("read timeout after sending")],
        on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    )
    h = make(action)
    await h.send(request("twice"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED]
    assert action.calls == 2


async def test_settings_override_the_declared_unknown_outcome_policy(make: Any) -> None:
    action = Scripted(
        "override",
        [OutcomeUnknownError("read timeout")],
        on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    )
    h = make(action, unknown_outcome={"script_override": "report"})
    await h.send(request("override"))
    await h.settle()
    assert [r.status for r in h.sink.results()] == [ResultStatus.OUTCOME_UNKNOWN]


async def test_interrupted_claim_follows_the_side_effect_policy(make: Any) -> None:
    unsafe = Scripted("unsafe", [], on_unknown_outcome=UnknownOutcomePolicy.REPORT)
    safe = Scripted("safe", [], side_effect=SideEffect.IDEMPOTENT)
    h = make(unsafe, safe)
    first, second = request("unsafe"), request("safe")
    for req in (first, second):  # a worker claimed them and died mid-call
        claim = await h.store.claim(req.bot_id, str(req.request_id), "dead-worker")
        assert claim.state is ClaimState.ACQUIRED
    await asyncio.sleep(0.6)  # past the 0.5 s lease
    await h.send(first)
    await h.send(second)
    await h.settle()
    statuses = {r.integration_id: r.status for r in h.sink.results()}
    assert statuses == {
        "script_unsafe": ResultStatus.OUTCOME_UNKNOWN,
        "script_safe": ResultStatus.SUCCEEDED,
    }
    assert unsafe.calls == 0
    assert safe.calls == 1


async def test_rate_limits_from_metadata_are_enforced_across_requests(make: Any) -> None:
    action = Scripted(
        "limited_meta", [], rate_limits=(RateLimit(scope="credential", limit=1, period_s=0.3),)
    )
    h = make(action)
    for _ in range(3):
        await h.send(request("limited_meta"))
    started = asyncio.get_running_loop().time()
    await h.settle()
    elapsed = asyncio.get_running_loop().time() - started
    assert [r.status for r in h.sink.results()] == [ResultStatus.SUCCEEDED] * 3
    assert elapsed >= 0.5, "three calls at 1 per 0.3 s cannot finish in under 0.6 s"


async def test_without_redis_nothing_executes_and_nothing_is_lost(make: Any) -> None:
    action = Scripted("paused", [])
    dead = aioredis.Redis(port=1, socket_connect_timeout=0.1, socket_timeout=0.1)
    h = make(action, redis=dead)
    await h.send(request("paused"))
    await asyncio.sleep(1.0)
    assert action.calls == 0
    assert h.sink.records == []
    assert h.scheduler.buffered == 1, "the request was dropped instead of waiting for Redis"
    await dead.aclose()


async def test_a_record_keyed_by_another_bot_fails_unrun_with_a_dead_letter(make: Any) -> None:
    action = Scripted("send", [])
    h = make(action)
    await h.send(request("send", bot="bot-1"), key=b"bot-2")
    await h.settle()
    [result] = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None and result.error.category == "invalid_config"
    assert "key 'bot-2' but its bot_id is 'bot-1'" in result.error.message
    assert len(h.sink.dead_letters()) == 1
    assert action.calls == 0


@pytest.mark.parametrize("bot", ["bot with spaces", "../../admin", "b" * 129, "bot\n1", ""])
async def test_a_bot_id_that_is_not_an_id_is_dead_lettered_unrun(make: Any, bot: str) -> None:
    action = Scripted("send", [])
    h = make(action)
    await h.send(request("send", bot=bot))
    await h.settle()
    assert h.sink.results() == []
    [letter] = h.sink.dead_letters()
    assert "bot_id" in letter.error.message
    assert action.calls == 0


async def test_a_crash_while_handling_fails_that_request_only_and_the_bot_moves_on(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("processors.ordering.HANDLER_BUG_RETRY_S", 0.01)
    action = Scripted("send", [])
    h = make(action)
    poisoned, healthy = request("send"), request("send")
    prepare = h.processor._executor.prepare

    def buggy(req: IntegrationRequest) -> Any:
        if req.request_id == poisoned.request_id:
            raise RecursionError("maximum recursion depth exceeded")
        return prepare(req)

    monkeypatch.setattr(h.processor._executor, "prepare", buggy)
    await h.send(poisoned)
    await h.send(healthy)
    await h.settle()
    first, second = h.sink.results()
    assert (first.request_id, first.status) == (poisoned.request_id, ResultStatus.FAILED)
    assert first.error is not None and first.error.category == "internal"
    assert "RecursionError" in first.error.message
    assert (second.request_id, second.status) == (healthy.request_id, ResultStatus.SUCCEEDED)
    [letter] = h.sink.dead_letters()
    assert letter.request_id == str(poisoned.request_id)


@pytest.mark.parametrize(
    ("wait_s", "deadline_in_s"), [(1e300, None), (7 * 3600, None), (120, 60)], ids=str
)
async def test_a_provider_wait_past_the_cap_or_the_deadline_fails_now(
    make: Any, wait_s: float, deadline_in_s: float | None
) -> None:
    action = Scripted("later", [RateLimitedError("come back much later", retry_after_s=wait_s)])
    h = make(action)
    deadline = None if deadline_in_s is None else now() + timedelta(seconds=deadline_in_s)
    await h.send(request("later", deadline=deadline))
    await h.settle()
    [result] = h.sink.results()
    assert result.status is ResultStatus.FAILED
    assert result.error is not None and result.error.category == "rate_limited"
    assert h.sink.on(TOPICS.retry) == []
    assert action.calls == 1


async def test_not_before_is_honoured_only_on_the_retry_topic(make: Any) -> None:
    action = Scripted("now", [])
    h = make(action)
    far = replace(request("now"), not_before=now() + timedelta(days=3650))
    await h.send(far)  # on the requests topic
    await h.settle(timeout_s=5)
    [result] = h.sink.results()
    assert result.status is ResultStatus.SUCCEEDED
