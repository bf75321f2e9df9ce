"""Replay failed actions: find them (DLQ or results), decide per request, republish.

Two steps, so that a dry run shows exactly what a real run would do::

    planner = ReplayPlanner(settings, registry)
    plan = await planner.plan(ReplaySource.DLQ, since=since, until=None, filters=ResultFilter())
    async with RequestPublisher.from_settings(settings) as publisher:
        await publish_replays(plan.to_replay, publisher)

**Where the original request comes from.** A dead letter carries the original request bytes, so
the DLQ (kept 30 days) is the primary source. A result carries no request, so with
:attr:`ReplaySource.RESULTS` the request is looked up by ``request_id`` on the requests topic,
from ``lookback`` before the earliest matched result was received up to the latest one. The
requests topic is kept 7 days by default: older requests are gone, and such items are listed as
:attr:`Verdict.NOT_FOUND` (replay them from the DLQ instead, or widen ``lookback`` when the
request waited longer than that before a worker took it).

**What a replay is.** The original request, republished to the requests topic keyed by its
``bot_id`` with the same ``request_id`` (so its new result answers the same request), ``attempt``
reset to 1, ``not_before`` and ``deadline`` cleared (the operator decided it should run now;
``deadline`` may be given afresh), the trace headers kept, and a ``replay-of`` header naming the
record replayed: ``dlq:<topic>:<partition>:<offset>`` or ``results:<topic>:<partition>:<offset>``.

**Side effects.** The idempotency key is kept by default (``idempotency_key`` or else the
``request_id``, which the replay keeps): a request that in fact succeeded answers DUPLICATE
without a second call, a FAILED one (whose claim the worker released) runs again.
``new_idempotency_key`` forces a fresh execution. Without ``allow_side_effects`` the guard
(:func:`side_effect_guard`) decides from what happened, which the worker writes on every failure
(the :data:`~topics.audit.MAYBE_EXECUTED_HEADER` of the result and its dead letter), and from the
integration's metadata, in this order:

1. no attempt may have had its effect (each failed before a byte was sent, or the provider
   refused it: a 4xx, a 5xx answer, missing credentials, an invalid config) → replay;
2. the integration has no side effect → replay;
3. it is idempotent, or the provider deduplicates our idempotency key, and the request is
   younger than the provider's ``idempotency_window_s`` (Stripe and YooKassa: 24 h) → replay;
   older, it counts as non-idempotent;
4. otherwise (an attempt may have had its effect, an OUTCOME_UNKNOWN, a record written before
   workers said, or an integration not registered here) → refused.

Every item carries its reason, shown by a dry run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from aiokafka import ConsumerRecord

from integrations.base import IntegrationMetadata, SideEffect
from integrations.errors import IntegrationError
from integrations.registry import IntegrationRegistry
from schemas import (
    AvroCodec,
    DeadLetter,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    SchemaDecodeError,
)
from topics.audit import MAYBE_EXECUTED_HEADER, REPLAY_OF_HEADER, ResultFilter
from topics.publisher import RequestPublisher
from topics.settings import StreamSettings
from topics.timerange import ScanProgress, scan

__all__ = [
    "CARRIED_HEADERS",
    "REPLAYABLE_STATUSES",
    "ReplayItem",
    "ReplayPlan",
    "ReplayPlanner",
    "ReplaySource",
    "Verdict",
    "publish_replays",
    "replay_request",
    "side_effect_guard",
]

REPLAYABLE_STATUSES = frozenset(
    {ResultStatus.FAILED, ResultStatus.EXPIRED, ResultStatus.OUTCOME_UNKNOWN}
)
CARRIED_HEADERS = ("traceparent", "tracestate")
"""Headers of the original request a replay keeps (the retry history is not: attempt is 1)."""
DEFAULT_LOOKBACK = timedelta(hours=1)
# Producers' clocks differ: a request may carry a timestamp slightly after its result's.
_CLOCK_SKEW = timedelta(minutes=1)


class ReplaySource(StrEnum):
    """Where failed actions are read from."""

    DLQ = "dlq"
    RESULTS = "results"


class Verdict(StrEnum):
    """What a replay does with one matched record."""

    REPLAY = "replay"
    REFUSED = "refused"  # the side-effect guard
    UNDECODABLE = "undecodable"  # no request can be rebuilt from the record
    NOT_FOUND = "not_found"  # results source: the request is no longer on the requests topic


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayItem:
    """One matched failure and what a replay does with it."""

    replay_of: str
    """The ``replay-of`` header value: ``<source>:<topic>:<partition>:<offset>``."""
    timestamp: datetime
    bot_id: str | None
    integration_id: str | None
    status: ResultStatus
    error_category: str | None
    error_message: str
    request_id: str | None
    verdict: Verdict
    reason: str = ""
    request: IntegrationRequest | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    """The original request's headers that the replay carries (trace context)."""
    received_at: datetime | None = None
    """Results source: when a worker received the request (its publish time is before)."""
    maybe_executed: bool | None = None
    """Whether an attempt may have had its side effect; ``None``: the record does not say."""


@dataclass
class ReplayPlan:
    """The outcome of planning: every item considered, in time order, and the counts."""

    source: ReplaySource
    items: list[ReplayItem] = field(default_factory=list)
    read: int = 0
    matched: int = 0
    repeats: int = 0
    """Earlier failures of a request_id that also failed later; only the latest is replayed."""
    beyond_limit: int = 0

    def with_verdict(self, verdict: Verdict) -> list[ReplayItem]:
        """The items a replay treats as ``verdict``, in time order."""
        return [item for item in self.items if item.verdict is verdict]

    @property
    def to_replay(self) -> list[ReplayItem]:
        """The items a replay publishes, in time order."""
        return self.with_verdict(Verdict.REPLAY)


ProgressCallback = Callable[[str, int, int | None], None]
"""Called with (phase, records read, records in the window)."""


class ReplayPlanner:
    """Finds the failures to replay and decides about each one (reads only, publishes nothing)."""

    def __init__(
        self,
        settings: StreamSettings,
        registry: IntegrationRegistry,
        *,
        codec: AvroCodec | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._codec = codec or AvroCodec()
        self._clock = clock

    async def plan(
        self,
        source: ReplaySource,
        *,
        since: datetime | None,
        until: datetime | None,
        filters: ResultFilter,
        limit: int | None = None,
        allow_side_effects: bool = False,
        lookback: timedelta = DEFAULT_LOOKBACK,
        progress: ProgressCallback | None = None,
    ) -> ReplayPlan:
        """Read ``source`` in ``[since, until)`` and judge every record ``filters`` keeps.

        ``filters.statuses`` empty means every replayable status. The first ``limit`` matched
        records by time are kept.
        """
        if not filters.statuses:
            filters = replace(filters, statuses=REPLAYABLE_STATUSES)
        plan = ReplayPlan(source)
        topic = (
            self._settings.topics.dlq
            if source is ReplaySource.DLQ
            else self._settings.topics.results
        )
        state = ScanProgress(on_update=_phase(progress, "scan"))
        latest: dict[str, ReplayItem] = {}
        items: list[ReplayItem] = []
        async for record in self._scan(topic, since, until, state):
            item = (
                self._judge_dead_letter(record)
                if source is ReplaySource.DLQ
                else self._judge_result(record)
            )
            if not filters.matches_fields(
                bot_id=item.bot_id, integration_id=item.integration_id, status=item.status,
                error_category=item.error_category,
            ):  # fmt: skip
                continue
            plan.matched += 1
            if item.request_id is None:
                items.append(item)
            else:  # per request_id, the latest failure (a partition's records come in order)
                if item.request_id in latest:
                    plan.repeats += 1
                latest[item.request_id] = item
        plan.read = state.read
        items.extend(latest.values())
        items.sort(key=lambda i: (i.timestamp, i.replay_of))
        if limit is not None and len(items) > limit:
            plan.beyond_limit = len(items) - limit
            items = items[:limit]
        if source is ReplaySource.RESULTS:
            items = await self._attach_requests(items, lookback, progress)
        plan.items = [self._guard(item, allow_side_effects) for item in items]
        return plan

    def _scan(
        self, topic: str, since: datetime | None, until: datetime | None, state: ScanProgress
    ) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
        return scan(
            self._settings.kafka, topic, since=since, until=until,
            progress=state, client_id="actionstream-replay",
        )  # fmt: skip

    # -- reading the sources ----------------------------------------------------------------------

    def _judge_dead_letter(self, record: ConsumerRecord[bytes, bytes]) -> ReplayItem:
        where = f"dlq:{record.topic}:{record.partition}:{record.offset}"
        try:
            letter = self._codec.decode(DeadLetter, record.value or b"")
        except SchemaDecodeError as exc:
            return _undecodable(record, where, f"the dead letter itself does not decode: {exc}")
        base = ReplayItem(
            replay_of=where, timestamp=_stamp(record),
            bot_id=letter.bot_id or _text(letter.original_key),
            integration_id=letter.integration_id, status=_status_of(letter.error.category),
            error_category=letter.error.category, error_message=letter.error.message,
            request_id=letter.request_id, verdict=Verdict.UNDECODABLE,
            maybe_executed=_maybe_executed(record),
        )  # fmt: skip
        try:
            request = self._codec.decode(IntegrationRequest, letter.original)
        except SchemaDecodeError as exc:
            return replace(base, reason=f"the original bytes are not a request: {exc}")
        return replace(
            base, bot_id=request.bot_id, integration_id=request.integration_id,
            request_id=str(request.request_id), verdict=Verdict.REPLAY, request=request,
            headers=_carried(letter.headers),
        )  # fmt: skip

    def _judge_result(self, record: ConsumerRecord[bytes, bytes]) -> ReplayItem:
        where = f"results:{record.topic}:{record.partition}:{record.offset}"
        try:
            result = self._codec.decode(IntegrationResult, record.value or b"")
        except SchemaDecodeError as exc:
            return _undecodable(record, where, f"the result does not decode: {exc}")
        error = result.error
        return ReplayItem(
            replay_of=where, timestamp=_stamp(record), bot_id=result.bot_id,
            integration_id=result.integration_id, status=result.status,
            error_category=None if error is None else error.category,
            error_message="" if error is None else error.message,
            request_id=str(result.request_id), received_at=result.received_at,
            verdict=Verdict.NOT_FOUND,  # until _attach_requests finds the request
            maybe_executed=_maybe_executed(record),
        )  # fmt: skip

    async def _attach_requests(
        self, items: list[ReplayItem], lookback: timedelta, progress: ProgressCallback | None
    ) -> list[ReplayItem]:
        """Find each item's request on the requests topic: the latest copy published before its
        result (an earlier replay may have republished it), else the first copy found.

        A request matches by ``bot_id``, ``integration_id`` and ``request_id`` together: another
        tenant publishing the same ``request_id`` cannot have its request replayed as this one.
        """
        wanted = [i for i in items if i.verdict is Verdict.NOT_FOUND and i.request_id is not None]
        if not wanted:
            return items
        received = {_identity(i): i.received_at or i.timestamp for i in wanted}
        since = min(received.values()) - lookback
        until = max(i.timestamp for i in wanted) + _CLOCK_SKEW
        found: dict[_Identity, tuple[IntegrationRequest, ConsumerRecord[bytes, bytes]]] = {}
        state = ScanProgress(on_update=_phase(progress, "requests"))
        topic = self._settings.topics.requests
        async for record in self._scan(topic, since, until, state):
            try:
                request = self._codec.decode(IntegrationRequest, record.value or b"")
            except SchemaDecodeError:
                continue
            key = (request.bot_id, request.integration_id, str(request.request_id))
            if key not in received:
                continue
            limit_ms = (received[key] + _CLOCK_SKEW).timestamp() * 1000
            if key not in found or record.timestamp <= limit_ms:
                found[key] = (request, record)
        window = f"{topic} between {since.isoformat()} and {until.isoformat()}"
        attached = []
        for item in items:
            if item.verdict is not Verdict.NOT_FOUND:
                attached.append(item)  # undecodable: nothing to look up
                continue
            hit = found.get(_identity(item))
            if hit is None:
                attached.append(replace(item, reason=(
                    f"request not found on {window}: the topic's retention (7 days by default) "
                    "may have deleted it, or it waited longer than --lookback before a worker "
                    "took it; replay it from the DLQ, which keeps the original bytes"
                )))  # fmt: skip
                continue
            request, record = hit
            attached.append(replace(
                item, verdict=Verdict.REPLAY, reason="", request=request,
                headers=_carried(record.headers),
            ))  # fmt: skip
        return attached

    # -- the side-effect guard --------------------------------------------------------------------

    def _guard(self, item: ReplayItem, allow_side_effects: bool) -> ReplayItem:
        if item.verdict is not Verdict.REPLAY or item.request is None:
            return item
        if allow_side_effects:
            return replace(item, reason="--allow-side-effects")
        request = item.request
        try:
            metadata = self._registry.entry(
                request.integration_id, request.integration_version
            ).metadata
        except IntegrationError:
            try:  # the version that failed may be gone; the id's policy still applies
                metadata = self._registry.entry(request.integration_id).metadata
            except IntegrationError:
                metadata = None
        unknown = item.status is ResultStatus.OUTCOME_UNKNOWN
        maybe_executed = True if unknown else item.maybe_executed
        allowed, reason = side_effect_guard(
            metadata, integration_id=request.integration_id, maybe_executed=maybe_executed,
            age=self._clock() - request.created_at,
        )  # fmt: skip
        return replace(item, verdict=Verdict.REPLAY if allowed else Verdict.REFUSED, reason=reason)


def side_effect_guard(
    metadata: IntegrationMetadata | None,
    *,
    integration_id: str,
    maybe_executed: bool | None,
    age: timedelta,
) -> tuple[bool, str]:
    """Whether a failed request may be replayed without ``--allow-side-effects``, and why.

    ``metadata`` is ``None`` for an integration not registered here; ``maybe_executed`` is
    ``None`` when the record does not say; ``age`` is how long ago the request was created.
    """
    flag = "pass --allow-side-effects to replay it anyway"
    if maybe_executed is False:
        return True, "no attempt may have had its effect (none reached the provider or it refused)"
    if metadata is None:
        return False, (
            f"{integration_id} is not registered here, so its side effect is unknown; {flag}"
        )
    if metadata.side_effect is SideEffect.NONE:
        return True, f"{integration_id} has no side effect"
    what = "an attempt may have had its effect" if maybe_executed else (
        "the record does not say whether an attempt had its effect (written by an older worker)"
    )  # fmt: skip
    if metadata.side_effect is SideEffect.IDEMPOTENT or metadata.supports_idempotency_key:
        window = metadata.idempotency_window_s
        if window is None:
            return True, f"{integration_id} is idempotent"
        hours = window / 3600
        if age.total_seconds() <= window:
            return True, (
                f"{integration_id} is idempotent within its provider's {hours:g} h idempotency "
                f"window (the request is {_age(age)} old)"
            )
        return False, (
            f"{what}, and the request is {_age(age)} old: past the {hours:g} h its provider "
            f"keeps idempotency keys, a replay may repeat the effect; {flag}"
        )
    return False, f"{what} and {integration_id} is non_idempotent; {flag}"


def _age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{max(age.total_seconds(), 0) / 60:.0f} min"


def _maybe_executed(record: ConsumerRecord[bytes, bytes]) -> bool | None:
    for key, value in record.headers:
        if key == MAYBE_EXECUTED_HEADER:
            return value == b"1" if value in (b"0", b"1") else None
    return None


def replay_request(
    item: ReplayItem, *, new_idempotency_key: bool = False, deadline: datetime | None = None
) -> IntegrationRequest:
    """The request a replay publishes for ``item`` (see the module docstring)."""
    if item.request is None:
        raise ValueError(f"{item.replay_of} has no request to replay ({item.verdict})")
    key = f"replay-{uuid.uuid4()}" if new_idempotency_key else item.request.idempotency_key
    return replace(item.request, attempt=1, not_before=None, deadline=deadline, idempotency_key=key)


async def publish_replays(
    items: Sequence[ReplayItem],
    publisher: RequestPublisher,
    *,
    new_idempotency_key: bool = False,
    deadline: timedelta | None = None,
    on_published: Callable[[ReplayItem, IntegrationRequest], None] | None = None,
) -> list[IntegrationRequest]:
    """Publish each item's replay in order (a bot's replays keep its original order)."""
    published = []
    for item in items:
        due = None if deadline is None else datetime.now(UTC) + deadline
        request = replay_request(item, new_idempotency_key=new_idempotency_key, deadline=due)
        headers: dict[str, str | bytes] = dict(item.headers)
        headers[REPLAY_OF_HEADER] = item.replay_of
        await publisher.send(request, headers=headers)
        published.append(request)
        if on_published is not None:
            on_published(item, request)
    return published


def _phase(progress: ProgressCallback | None, phase: str) -> Callable[[ScanProgress], None] | None:
    if progress is None:
        return None
    return lambda state: progress(phase, state.read, state.total)


def _undecodable(record: ConsumerRecord[bytes, bytes], where: str, reason: str) -> ReplayItem:
    # Nothing is known but the key (the bot) and where it is: listed, so an operator sees it.
    return ReplayItem(
        replay_of=where, timestamp=_stamp(record), bot_id=_text(record.key), integration_id=None,
        status=ResultStatus.OUTCOME_UNKNOWN, error_category="undecodable", error_message=reason,
        request_id=None, verdict=Verdict.UNDECODABLE, reason=reason,
    )  # fmt: skip


def _status_of(category: str) -> ResultStatus:
    # The result a dead letter went with: the worker dead-letters FAILED and OUTCOME_UNKNOWN ones.
    if category == "outcome_unknown":
        return ResultStatus.OUTCOME_UNKNOWN
    if category == "expired":
        return ResultStatus.EXPIRED
    return ResultStatus.FAILED


def _stamp(record: ConsumerRecord[bytes, bytes]) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _carried(headers: Sequence[tuple[str, bytes | None]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v) for k, v in headers if k in CARRIED_HEADERS and v is not None)


_Identity = tuple[str | None, str | None, str | None]


def _identity(item: ReplayItem) -> _Identity:
    return (item.bot_id, item.integration_id, item.request_id)
