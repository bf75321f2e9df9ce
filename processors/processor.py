"""One request from claim to result: idempotency, rate limits, retries, failure routing.

The scheduler (:mod:`processors.ordering`) calls :meth:`RequestProcessor.handle` for the head of
each bot's lane. Every path ends in exactly one result (or, for undecodable bytes, a dead letter);
waits park only this bot. The routing, one classified outcome → one action:

==================  ===============================================================================
outcome             action
==================  ===============================================================================
succeeded           SUCCEEDED result; the idempotency record stores it (replays → DUPLICATE)
rate_limited        feed the limiter; wait ``retry_after`` + jitter (parked, or the retry topic)
transient           exponential backoff with jitter up to ``max_attempts``; if the call may have
                    reached the provider, the side-effect policy decides first
auth                invalidate the cached credentials, refetch, retry once; then FAILED
invalid_config,     FAILED result now, and a dead letter
permanent,
not_found,
unavailable
internal            FAILED result, a dead letter, keep running
expired             EXPIRED result; nothing is executed
==================  ===============================================================================

Redis (idempotency claims, rate limits) being unreachable pauses this bot and retries: no side
effect ever happens without a claim.

**The claim is taken immediately before each call**, after the deadline check, credentials and
rate limiting, so a held claim means "a call may have left": a worker that dies before that
moment leaves no claim behind, and its request runs again cleanly on redelivery; one that dies
mid-call leaves a lease whose expiry makes the next claim ``ACQUIRED_AFTER_UNKNOWN``. This costs
no extra Redis round trip (claim, rate-limit slot, completion: three, as before). For calls
through the seams the claim is a reservation, and the send gate writes its mark ("a call may
have left") in the same step as the request, a fourth command whose reply nobody waits for
(:mod:`processors.call_marks`): a kill between the claim's reply and the request leaves an
unmarked reservation, which runs again cleanly. The claim is
let go between attempts (released as unknown when the attempt may have reached the provider),
and on drain or revoke only a claim whose call may have started is released as unknown.

**Leases live as long as their calls** (:mod:`processors.leases`). An attempt whose lease
another owner took over does not answer the request itself: after a success its completion
still counts if it is the first (the side effect did happen), and otherwise it publishes the
stored result as DUPLICATE. After a failure it does not drop the request (the new owner may be
a worker that is itself about to stop): it waits on the claim like any other, and publishes the
new owner's stored answer as DUPLICATE, or carries on if that owner let the request go.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from integrations import spans
from integrations.base import CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import redact_text
from integrations.context import RequestContext, SendRefusedError, bind_request
from integrations.credentials.cache import Cached
from integrations.errors import IntegrationError, OutcomeCategory
from integrations.outcome import Outcome, classify
from processors.bot_control import BotControl
from processors.executor import Execution, Executor, Prepared
from processors.idempotency import Claim, ClaimState, IdempotencyStore
from processors.inputs import RequestDecoder
from processors.leases import Lease, LeaseHeartbeat
from processors.metrics import NO_METRICS, Metrics
from processors.ordering import Job
from processors.outputs import Outputs
from processors.ratelimit import LimitKey, RateLimiter
from processors.records import InboundRecord
from processors.redis_scripts import RedisUnavailableError
from processors.results import error_for, internal_outcome, needs_dead_letter
from processors.retries import (
    ATTEMPTS_HEADER,
    Attempt,
    backoff_s,
    decode_attempts,
    may_reexecute,
    retry_after_s,
    summarize,
)
from processors.send_gate import OnReply, SendGate
from processors.settings import ProcessingSettings
from processors.tracing import parse_traceparent
from schemas import (
    ORDERING_KEY_HEADER,
    ErrorRecord,
    IntegrationRequest,
    ResultStatus,
    ordering_key_problem,
    utc_now,
)
from topics.audit import REPLAY_OF_HEADER
from topics.bot_commands import BotCommand

log = logging.getLogger("actionstream.processor")

# A parked bot asks Redis again after 0.2 s, 1.5x longer each time, at most every 2 s: a Redis
# Cluster failover (a few seconds) costs a bot about one step more than the outage itself.
REDIS_BACKOFF_MAX_S = 2.0
SUPERSEDED_WAIT_S = 0.5


class InvalidatingResolver(CredentialsResolverLike, Protocol):
    """The credentials resolver, plus dropping cached credentials a provider rejected (and, for
    OAuth, renewing the refused token on the next load)."""

    async def invalidate(self, bot_id: str, provider: str, *, rejected: bool = False) -> None: ...

    def peek_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> Cached | None: ...


class _Step(enum.Enum):
    """What to do after a claim was settled."""

    CALL = "call"
    AGAIN = "again"
    ANSWERED = "answered"


@dataclass(slots=True)
class _Run:
    """The state of one request's attempts in this worker."""

    job: Job
    request: IntegrationRequest
    received_at: datetime
    traceparent: str | None
    history: list[Attempt] = field(default_factory=list)
    claim: Claim | None = None
    owner: str = ""
    key: str = ""
    auth_refreshed: bool = False
    rate_limited: int = 0
    maybe_executed: bool = False
    held: bool = False
    """This attempt holds the claim (between the claim and its completion or release)."""
    claimed_at: float = 0.0
    """When the last claim was sent (monotonic): where its lease's local clock starts."""
    unsettled: bool = False
    """A call may have started and its outcome is not recorded yet (drain: release as unknown)."""
    gate: SendGate | None = None
    """The current attempt's send gate (it counts the requests that left)."""

    @property
    def record(self) -> InboundRecord:
        return self.job.record

    @property
    def attempt(self) -> int:
        return self.request.attempt + len(self.history)


def _key_mismatch(key: bytes | None, request: IntegrationRequest) -> str:
    shown = "no key" if key is None else f"key {key[:64].decode('utf-8', 'replace')!r}"
    return (
        f"the record has {shown} but its bot_id is {request.bot_id!r}; nothing was run. "
        "Publish each request with its bot_id as the key (topics.publisher does)"
    )


class RequestProcessor:
    """The scheduler's handler: drives each request to exactly one result."""

    def __init__(
        self,
        *,
        outputs: Outputs,
        executor: Executor,
        resolver: InvalidatingResolver,
        idempotency: IdempotencyStore,
        limiter: RateLimiter,
        settings: ProcessingSettings,
        worker_id: str,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        metrics: Metrics = NO_METRICS,
        redis_timeout_s: float = 5.0,
        control: BotControl | None = None,
    ) -> None:
        self._outputs = outputs
        self._decoder = RequestDecoder(outputs.codec, outputs.dead_letter, metrics=metrics)
        self._executor = executor
        self._resolver = resolver
        self._store = idempotency
        self._limiter = limiter
        self._settings = settings
        self._worker_id = worker_id
        self._clock = clock
        self._rng = rng or random.Random()
        self._redis_timeout_s = redis_timeout_s
        # Claim owners: unique per attempt and per process (a restarted worker never reuses one).
        self._owner_prefix = f"{worker_id}:{uuid.uuid4().hex[:8]}"
        self._owner_ids = itertools.count(1)
        self._metrics = metrics
        self._control = control if control is not None else BotControl()
        # Request ids of each bot past the operators' gate (pause, cancel): what a command
        # finds "executing" (it finishes).
        self._started: dict[str, dict[str, None]] = {}
        interval_s = max(0.05, settings.idempotency_lease_s / 3)
        self._leases = LeaseHeartbeat(idempotency, interval_s=interval_s)
        spans.refresh()  # whether to make spans: decided as the processor starts

    async def aclose(self) -> None:
        await self._leases.aclose()

    async def handle(self, job: Job) -> None:
        received_at = self._clock()
        bind_request(None)  # a task inherits its creator's binding: drop it
        request = await self._decoder.decode(job.record)
        if request is None:
            return
        record = job.record
        incoming = parse_traceparent(record.header("traceparent"))
        if not spans.enabled():
            await self._handle(job, request, received_at, incoming)
            return
        with spans.span(
            f"{record.topic} process", kind="consumer", parent_traceparent=incoming,
            attributes={
                "messaging.system": "kafka", "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "actionstream.request_id": str(request.request_id),
                "actionstream.integration.id": request.integration_id,
            },
        ):  # fmt: skip
            # What the request's work propagates from here on: the consumer span's context.
            await self._handle(job, request, received_at, spans.own_traceparent() or incoming)

    async def _handle(
        self,
        job: Job,
        request: IntegrationRequest,
        received_at: datetime,
        traceparent: str | None,
    ) -> None:
        request_id = str(request.request_id)
        bind_request(
            RequestContext(
                request_id=request_id, bot_id=request.bot_id,
                idempotency_key=request.idempotency_key or request_id,
                traceparent=traceparent, integration_id=request.integration_id,
            )
        )  # fmt: skip
        run = _Run(job, request, received_at, traceparent)
        if job.record.key != request.bot_id.encode():
            # The key picks the lane, the value the credentials and idempotency: never both.
            await self._finish(run, self._executor.refused(_key_mismatch(job.record.key, request)))
            return
        scope_problem = ordering_key_problem(
            request.ordering_key, job.record.header(ORDERING_KEY_HEADER)
        )
        if scope_problem is not None:  # the lane it waited in is not the order it asked for
            await self._finish(run, self._executor.refused(f"{scope_problem}; nothing was run"))
            return
        run.history = decode_attempts(job.record.header(ATTEMPTS_HEADER))
        run.maybe_executed = any(attempt.maybe_executed for attempt in run.history)
        if request.not_before is not None and job.record.topic == self._outputs.retry_topic:
            await job.park(self._due_in(request))  # a delayed retry: wait until it is due
        prepared = self._executor.prepare(request)
        if isinstance(prepared, Execution):  # expired, unknown, unavailable, invalid config
            await self._finish(run, prepared)
            return
        run.key = request.idempotency_key or request_id
        try:
            await self._attempts(run, prepared)
        except asyncio.CancelledError:
            # Drained or revoked mid-way: free a held claim now rather than at lease expiry,
            # as unknown only if a call may have started.
            if run.held:
                with contextlib.suppress(Exception):
                    sent = run.unsettled or (run.gate is not None and run.gate.passed > 0)
                    unknown = sent or run.maybe_executed
                    await asyncio.wait_for(self._release(run, unknown=unknown), timeout=2)
            raise

    # -- attempts ---------------------------------------------------------------------------------

    async def crashed(self, job: Job, exc: Exception) -> None:
        """The last word on a record whose handling kept raising (the scheduler's ``on_crash``).

        A bug of ours, or input we failed to bound: the request gets one FAILED ``internal``
        result (it may have run before the crash) and a dead letter, and its lane moves on.
        """
        message = redact_text(
            f"internal error while handling this request ({type(exc).__name__}: {exc}); "
            "it was not retried. This is a bug: report it with the dead letter"
        )[:500]
        error = ErrorRecord(category=OutcomeCategory.INTERNAL.value, code=500, message=message)
        request = await self._decoder.decode(job.record)  # None: it was dead-lettered there
        if request is None:
            return
        execution = Execution(internal_outcome(message), None, None, self._clock())
        try:
            await self._outputs.result(
                job.record, request, execution, received_at=self._clock(), error=error,
                maybe_executed=True,
            )  # fmt: skip
        except Exception:  # the dead letter below still keeps the record; raising would loop
            log.exception("no result for crashed request %s", request.request_id)
        await self._outputs.dead_letter(job.record, error, request=request, maybe_executed=True)

    async def _attempts(self, run: _Run, prepared: Prepared) -> None:
        at_send = prepared.entry.integration.calls_through_seams
        bot, request_id = run.request.bot_id, prepared.request_id
        try:
            while True:
                if await self._controlled(run, request_id):
                    return  # cancelled by an operator
                self._started.setdefault(bot, {})[request_id] = None
                if not await self._attempt(run, prepared, at_send):
                    return
        finally:
            started = self._started.get(bot)
            if started is not None:
                started.pop(request_id, None)
                if not started:
                    del self._started[bot]

    async def _attempt(self, run: _Run, prepared: Prepared, at_send: bool) -> bool:
        """One attempt; ``True`` to try again (after a wait it already took)."""
        metadata = prepared.metadata
        expired = self._executor.expired(run.request, metadata)
        if expired is not None:
            await self._finish(run, expired)
            return False
        keys = await self._limit_keys(run, prepared)
        if keys is None:
            return False  # handed to the retry topic
        if not at_send:  # claimed here, right before the call
            step = await self._settle(run, prepared, await self._claim(run))
            if step is not _Step.CALL:
                return step is _Step.AGAIN
        execution, gate = await self._call(run, prepared, claim_at_send=at_send)
        refusal = gate.refusal
        if refusal is not None and refusal.claim is not None:  # the claim was not granted
            return await self._settle(run, prepared, refusal.claim) is _Step.AGAIN
        if refusal is not None or (at_send and not gate.passed):
            execution = self._not_sent(execution, gate)
        outcome = execution.outcome
        if outcome.succeeded:
            if not run.held:  # it succeeded without a provider request: claim to answer once
                claim = await gate.claim_now()
                assert claim is not None
                step = await self._settle(run, prepared, claim)
                if step is not _Step.CALL:
                    return step is _Step.AGAIN
            await self._outputs.result(
                run.record, run.request, execution, received_at=run.received_at,
                attempt=run.attempt, before_publish=lambda value: self._complete(run, value),
            )  # fmt: skip
            return False
        run.history.append(Attempt.of(run.attempt, outcome, execution.finished_at))
        run.maybe_executed = run.maybe_executed or outcome.maybe_executed
        if run.held and not await self._let_go(run, unknown=outcome.maybe_executed):
            # Superseded: wait for the new owner's answer on the claim (DONE → DUPLICATE).
            await run.job.park(SUPERSEDED_WAIT_S)
            return True
        delay = await self._delay_for(run, metadata, outcome, keys)
        if delay is None:
            await self._fail(run, execution)
            return False
        if outcome.maybe_executed and not self._may_reexecute(metadata):
            await self._unknown_outcome(run, prepared, outcome.message)
            return False
        self._metrics.retry(metadata.id, inline=delay <= self._settings.inline_delay_limit_s)
        return await self._wait(run, delay)

    # -- operators' commands ---------------------------------------------------------------------

    async def _controlled(self, run: _Run, request_id: str) -> bool:
        """Before an attempt: wait while the bot is paused; ``True`` once a cancel answered it.

        Only a request none of whose attempts may have reached the provider can be cancelled,
        and never a replay (an operator asked for it to run).
        """
        control, bot = self._control, run.request.bot_id
        while True:
            if not run.maybe_executed and run.record.header(REPLAY_OF_HEADER) is None:
                command = control.cancelling(bot, request_id, run.request.created_at)
                if command is not None and await self._cancel(run, command):
                    return True
            if control.paused(bot) is None:
                return False
            started = self._started.get(bot)
            if started is not None:
                started.pop(request_id, None)
            self._metrics.paused_wait(run.request.integration_id)
            await run.job.hold(control.changed(bot))

    async def _cancel(self, run: _Run, command: BotCommand) -> bool:
        """Answer CANCELLED, unless another attempt may have run it (then ``False``)."""
        while True:
            claim = await self._claim(run)
            if claim.state is not ClaimState.BUSY:
                break
            await run.job.park(claim.retry_after_s or 1.0)  # another worker runs it now
        if claim.state is ClaimState.DONE:
            assert claim.result is not None
            await self._duplicate(run, claim.result)
            return True
        if claim.state is ClaimState.ACQUIRED_AFTER_UNKNOWN:  # it may have run: not cancellable
            await self._let_go(run, unknown=True)
            run.maybe_executed = True
            return False
        message = redact_text(
            f"cancelled before it started: {command.describe()} (command {command.command_id}); "
            "nothing was run. Replay it to run it after all"
        )[:1000]
        outcome = classify(IntegrationError(message, code=409))
        execution = Execution(outcome, None, None, self._clock())
        error = ErrorRecord(category="cancelled", code=None, message=message)
        await self._outputs.result(
            run.record, run.request, execution, received_at=run.received_at,
            status=ResultStatus.CANCELLED, attempt=run.attempt, error=error, maybe_executed=False,
        )  # fmt: skip
        # Let go, not stored as done: a replay of a cancelled request runs (the cancel rule
        # stays, so a redelivery before the commit answers CANCELLED again).
        await self._let_go(run, unknown=False)
        self._metrics.cancelled(run.request.integration_id)
        return True

    def started(self, bot_id: str) -> list[str]:
        """Request ids of the bot whose attempts are under way here (they finish)."""
        return list(self._started.get(bot_id, ()))

    async def _settle(self, run: _Run, prepared: Prepared, claim: Claim) -> _Step:
        """Act on a claim: call on a grant, else wait (BUSY) or answer (DONE, unknown)."""
        if claim.state is ClaimState.BUSY:
            # Another worker holds it (e.g. the previous owner of this partition is still
            # calling): wait, then take a fresh rate-limit slot for our own call.
            await run.job.park(claim.retry_after_s or 1.0)
            return _Step.AGAIN
        if claim.state is ClaimState.DONE:
            assert claim.result is not None
            await self._duplicate(run, claim.result)
            return _Step.ANSWERED
        if not self._grants(claim, prepared.metadata):
            await self._unknown_outcome(run, prepared, "an earlier attempt was interrupted")
            return _Step.ANSWERED
        return _Step.CALL

    def _grants(self, claim: Claim, metadata: IntegrationMetadata) -> bool:
        """Whether a claim lets this attempt call the provider."""
        if claim.state is ClaimState.ACQUIRED_AFTER_UNKNOWN:
            return self._may_reexecute(metadata)
        return claim.state is ClaimState.ACQUIRED

    async def _claim(
        self, run: _Run, then: OnReply | None = None, *, reserve: bool = False
    ) -> Claim:
        """Claim the request for one call; a new owner id per attempt.

        ``run`` records the claim, then ``then`` gets it, as soon as Redis's reply is read.
        """
        run.owner = f"{self._owner_prefix}:{next(self._owner_ids)}"
        bot, key, owner = run.request.bot_id, run.key, run.owner
        claimed_at = time.monotonic()

        def record(claim: Claim) -> None:
            run.claim = claim
            run.claimed_at = claimed_at
            run.held = claim.state in (ClaimState.ACQUIRED, ClaimState.ACQUIRED_AFTER_UNKNOWN)
            if then is not None:
                then(claim)

        claim: Claim = await self._redis(
            run, lambda: self._store.claim(bot, key, owner, reserve=reserve, then=record)
        )
        return claim

    async def _call(
        self, run: _Run, prepared: Prepared, *, claim_at_send: bool
    ) -> tuple[Execution, SendGate]:
        """One call through a send gate, its lease kept alive meanwhile."""
        prepared.attempt = run.attempt
        lease = Lease(run.request.bot_id, run.key, run.owner)
        lease_s = self._store.lease_s
        if claim_at_send:
            marks = _Marks(self._store, run, self._mark) if self._store.marks_now else None

            async def claim(then: OnReply | None) -> Claim:
                def on_reply(claimed: Claim) -> None:  # granted: the lease starts
                    lease.owner = run.owner
                    if self._grants(claimed, prepared.metadata):
                        lease.start(run.claimed_at + lease_s)
                    if then is not None:
                        then(claimed)

                return await self._claim(run, on_reply, reserve=marks is not None)

            gate = SendGate(lease, lease_s=lease_s, claim=claim, marks=marks)
        else:
            lease.start(run.claimed_at + lease_s)
            gate = SendGate(lease, lease_s=lease_s)
            run.unsettled = True
        run.gate = gate
        metadata = prepared.metadata
        with self._leases.hold(lease), _attempt_span(metadata, run.attempt) as current:
            execution = await self._executor.execute(
                prepared, traceparent=spans.own_traceparent() or run.traceparent, gate=gate
            )
            if current is not None:  # spans on
                outcome = execution.outcome
                spans.set_attributes(
                    current,
                    **{
                        "actionstream.outcome.category": outcome.category.value,
                        "actionstream.outcome.maybe_executed": outcome.maybe_executed,
                    },
                )
                if not outcome.succeeded:
                    spans.mark_failed(current, outcome.category.value)
        if gate.mark_reply is not None:
            await self._confirm_mark(run, gate.mark_reply)
        if gate.refusal is None or gate.refusal.claim is None:  # not timed: never called
            self._metrics.executed(execution)
        if lease.lost:
            log.warning(
                "request %s of bot %s: another worker took the lease over during the call",
                run.request.request_id,
                run.request.bot_id,
            )
        return execution, gate

    async def _confirm_mark(self, run: _Run, reply: asyncio.Future[Any]) -> None:
        """A mark written in the reply step whose reply is an error may not be in Redis: mark
        again, waiting this time, before the attempt's outcome is settled."""
        try:
            await reply
        except Exception as exc:
            log.warning("request %s: mark not confirmed (%s); marking again", run.key, exc)
            await self._mark(run)

    async def _mark(self, run: _Run) -> None:
        bot, key, owner = run.request.bot_id, run.key, run.owner
        await self._redis(run, lambda: self._store.mark(bot, key, owner))

    def _not_sent(self, execution: Execution, gate: SendGate) -> Execution:
        """The attempt as the gate saw it: refused, or with no request that left the worker."""
        if gate.refusal is None:
            if not execution.outcome.maybe_executed:
                return execution
            outcome = replace(execution.outcome, maybe_executed=False)
        else:
            what = execution.metadata.id if execution.metadata else "the call"
            error = SendRefusedError(f"{what}: not sent: {gate.refusal.reason}")
            # Refused now, but an earlier request of the same call may have left.
            outcome = replace(classify(error), maybe_executed=gate.passed > 0)
        return replace(execution, outcome=outcome)

    async def _let_go(self, run: _Run, *, unknown: bool) -> bool:
        """Release the claim after a failed attempt; ``False`` if another owner holds it now."""
        released: bool = await self._release(run, unknown=unknown)
        run.held = run.unsettled = False
        run.gate = None
        if not released:
            log.warning(
                "request %s of bot %s was taken over by another owner; waiting for its answer",
                run.request.request_id,
                run.request.bot_id,
            )
        return released

    async def _delay_for(
        self,
        run: _Run,
        metadata: IntegrationMetadata,
        outcome: Outcome,
        keys: tuple[LimitKey, ...],
    ) -> float | None:
        """How long to wait before the next attempt, or ``None`` when this was the last one."""
        settings = self._settings
        category = outcome.category
        if category is OutcomeCategory.RATE_LIMITED:
            run.rate_limited += 1
            if run.rate_limited >= settings.max_rate_limited_attempts:
                return None
            wait = retry_after_s(outcome, settings.backoff_base_s * 2, self._rng)
            if not self._worth_waiting(run.request, outcome.retry_after_s or 0.0):
                return None  # the provider asks for longer than we may wait: fail now
            with contextlib.suppress(RedisUnavailableError):
                await self._limiter.penalize(keys, wait)
            return wait
        if category is OutcomeCategory.TRANSIENT:
            failures = len(run.history) - run.rate_limited
            if failures >= metadata.max_attempts:
                return None
            return backoff_s(
                failures,
                base_s=settings.backoff_base_s,
                max_s=settings.backoff_max_s,
                rng=self._rng,
            )
        if category is OutcomeCategory.AUTH and not run.auth_refreshed:
            run.auth_refreshed = True
            provider = metadata.credentials_provider
            if provider:
                await self._resolver.invalidate(run.request.bot_id, provider, rejected=True)
            return 0.0
        return None

    def _worth_waiting(self, request: IntegrationRequest, wait: float) -> bool:
        """Whether a provider's wait fits the longest wait and the request's deadline."""
        if not wait <= self._settings.max_retry_after_s:  # also refuses NaN
            return False
        deadline = request.deadline
        return deadline is None or (deadline - self._clock()).total_seconds() > wait

    def _due_in(self, request: IntegrationRequest) -> float:
        """Seconds until a delayed retry is due: never past its deadline or the longest wait."""
        assert request.not_before is not None
        due = request.not_before
        if request.deadline is not None:
            due = min(due, request.deadline)
        seconds = (due - self._clock()).total_seconds()
        return max(0.0, min(seconds, self._settings.max_retry_after_s))

    async def _wait(self, run: _Run, delay: float) -> bool:
        """Park for ``delay``, or hand a longer wait to the retry topic (then ``False``)."""
        if delay <= self._settings.inline_delay_limit_s:
            await run.job.park(delay)
            return True
        await self._outputs.retry(
            run.record,
            run.request,
            attempt=run.attempt,
            not_before=self._clock() + timedelta(seconds=delay),
            history=run.history,
        )
        return False

    async def _limit_keys(self, run: _Run, prepared: Prepared) -> tuple[LimitKey, ...] | None:
        """Take a rate-limit slot (parking while none is free); ``None`` if handed off."""
        metadata = prepared.metadata
        # Resolved before the claim even without rate limits: a credentials fetch is then not
        # part of the claimed window, and the integration's own lookup hits the local cache.
        credentials = await self._credentials(run, metadata)
        if not metadata.rate_limits:
            return ()
        keys = self._limiter.keys_for(metadata, credentials=credentials, config=prepared.config)
        while True:
            decision = await self._redis(run, lambda: self._limiter.acquire(keys))
            if decision.allowed:
                return keys
            self._metrics.rate_limit_wait(metadata.id)
            if not await self._wait(run, decision.wait_s):
                return None

    async def _credentials(
        self, run: _Run, metadata: IntegrationMetadata
    ) -> Mapping[str, Any] | None:
        """The bot's credentials, read only (they key its rate limits)."""
        provider = metadata.credentials_provider
        if provider is None:
            return None
        bot, strategy = run.request.bot_id, metadata.credentials_strategy.value
        cached = self._resolver.peek_default_for(bot_id=bot, provider=provider, strategy=strategy)
        if cached is not None:  # the usual case: no copy, no task switch, no timer
            return cached.credentials
        try:
            async with asyncio.timeout(self._redis_timeout_s * 2):
                return await self._resolver.get_default_for(
                    bot_id=bot, provider=provider, strategy=strategy
                )
        except (IntegrationError, TimeoutError):
            return None  # the integration will meet the same problem and report it

    # -- endings ----------------------------------------------------------------------------------

    async def _finish(self, run: _Run, execution: Execution) -> None:
        """A result (and a dead letter where due) for a request that never ran."""
        # Not executed now; an earlier attempt of this run may have been, though (expired after).
        maybe = run.maybe_executed
        result, _ = await self._outputs.result(
            run.record, run.request, execution, received_at=run.received_at, maybe_executed=maybe
        )
        self._metrics.not_executed(run.request.integration_id, execution.outcome.category.value)
        error = error_for(execution.outcome)
        if error is not None and needs_dead_letter(execution.outcome):
            await self._outputs.dead_letter(
                run.record, error, request=run.request,
                integration_version=result.integration_version, maybe_executed=maybe,
            )  # fmt: skip

    async def _fail(self, run: _Run, execution: Execution) -> None:
        """FAILED after the last attempt: every attempt's error summarised, and a dead letter."""
        error = error_for(execution.outcome)
        assert error is not None  # a failed attempt always has an error record
        if len(run.history) > 1:
            error = replace(error, message=summarize(run.history))
        result, _ = await self._outputs.result(
            run.record, run.request, execution, received_at=run.received_at,
            attempt=run.attempt, error=error, maybe_executed=run.maybe_executed,
        )  # fmt: skip
        await self._outputs.dead_letter(
            run.record, error, request=run.request,
            integration_version=result.integration_version, attempts=len(run.history),
            first_failure_at=run.history[0].at if run.history else None,
            maybe_executed=run.maybe_executed,
        )  # fmt: skip
        # Not stored as done (the claim was released): a replay of it should run it again.

    async def _unknown_outcome(self, run: _Run, prepared: Prepared, why: str) -> None:
        """At-most-once: report OUTCOME_UNKNOWN for an operator instead of risking a repeat."""
        message = (
            f"{prepared.metadata.id} may or may not have run ({why}); not retried because it is "
            "not idempotent and its policy is 'report'. Check with the provider, then replay "
            "with a new idempotency key if it did not happen."
        )
        outcome = classify(IntegrationError(message, code=504))
        execution = Execution(outcome, prepared.metadata, None, self._clock())
        error = ErrorRecord(category="outcome_unknown", code=504, message=message)
        await self._outputs.result(
            run.record, run.request, execution, received_at=run.received_at,
            status=ResultStatus.OUTCOME_UNKNOWN, attempt=run.attempt, error=error,
            before_publish=lambda value: self._complete(run, value), maybe_executed=True,
        )  # fmt: skip
        await self._outputs.dead_letter(
            run.record, error, request=run.request,
            integration_version=prepared.metadata.version, attempts=max(1, len(run.history)),
            maybe_executed=True,
        )  # fmt: skip

    async def _duplicate(self, run: _Run, stored: bytes) -> None:
        self._metrics.duplicate(run.request.integration_id)
        await self._outputs.duplicate(run.record, run.request, stored, received_at=run.received_at)

    async def _complete(self, run: _Run, value: bytes) -> bytes | None:
        """Store the result; ``None`` if it is the answer, else the first completer's result."""
        bot, key, owner = run.request.bot_id, run.key, run.owner
        stored = await self._redis(run, lambda: self._store.complete(bot, key, owner, value))
        run.held = run.unsettled = False
        if stored:
            return None
        # Another owner completed first (it took our lease over): its result is the answer.
        self._metrics.duplicate(run.request.integration_id)
        claim = await self._claim(run)
        run.held = False
        return claim.result if claim.state is ClaimState.DONE else None

    async def _release(self, run: _Run, *, unknown: bool) -> bool:
        bot, key, owner = run.request.bot_id, run.key, run.owner
        released: bool = await self._redis(
            run, lambda: self._store.release(bot, key, owner, outcome_unknown=unknown)
        )
        return released

    def _may_reexecute(self, metadata: IntegrationMetadata) -> bool:
        return may_reexecute(metadata, self._settings.unknown_outcome.get(metadata.id))

    async def _redis(self, run: _Run, operation: Callable[[], Any]) -> Any:
        """Run a Redis operation; while Redis is unreachable, park this bot and try again."""
        backoff = 0.2
        while True:
            try:
                return await operation()  # bounded: ScriptRunner gives every batch a deadline
            except RedisUnavailableError as exc:
                log.warning(
                    "redis unavailable for bot %s (%s); pausing %.1fs",
                    run.request.bot_id,
                    exc,
                    backoff,
                )
                await run.job.park(backoff)
                backoff = min(backoff * 1.5, REDIS_BACKOFF_MAX_S)


def _attempt_span(
    metadata: IntegrationMetadata, attempt: int
) -> contextlib.AbstractContextManager[Any]:
    """The span of one attempt (its name and attributes made only when spans are on)."""
    if not spans.enabled():
        return spans.NO_SPAN
    attributes: dict[str, str | int | bool] = {
        "actionstream.integration.id": metadata.id,
        "actionstream.integration.version": metadata.version,
        "actionstream.attempt": attempt,
    }
    return spans.span(f"execute {metadata.id}", attributes=attributes)


class _Marks:
    """One attempt's marks for its send gate (see :class:`processors.send_gate.Marks`)."""

    def __init__(
        self, store: IdempotencyStore, run: _Run, mark: Callable[[_Run], Awaitable[None]]
    ) -> None:
        self._store = store
        self._run = run
        self._mark = mark

    def now(self) -> asyncio.Future[Any] | None:
        return self._store.mark_now(self._run.request.bot_id, self._run.key)

    async def later(self) -> None:
        await self._mark(self._run)
