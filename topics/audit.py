"""Read the results topic for audit: typed results in a time window, or as they arrive.

::

    reader = AuditReader.from_settings(ClientSettings())
    failures = ResultFilter(statuses={ResultStatus.FAILED}, bots={"bot-42"})
    async for result in reader.between(since, until, failures):
        print(result.request_id, result.error)

Readers use their own group-less consumer (see :mod:`topics.timerange`), so any number of them can
run next to the workers without joining, rebalancing or committing for the workers' group. A
record that does not decode as a result is counted in :attr:`AuditReader.undecodable`, logged and
skipped: an audit never stops on one bad record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from integrations.errors import OutcomeCategory
from schemas import AvroCodec, IntegrationResult, ResultStatus, SchemaDecodeError
from topics.connection import Brokers
from topics.settings import StreamSettings
from topics.timerange import ScanProgress, scan

__all__ = [
    "CSV_COLUMNS",
    "ERROR_CATEGORIES",
    "MAYBE_EXECUTED_HEADER",
    "REPLAY_OF_HEADER",
    "AuditReader",
    "AuditRecord",
    "ResultFilter",
    "csv_row",
    "json_record",
]

log = logging.getLogger(__name__)

REPLAY_OF_HEADER = "replay-of"
MAYBE_EXECUTED_HEADER = "actionstream-maybe-executed"
"""On FAILED, EXPIRED and OUTCOME_UNKNOWN results and their dead letters: ``1`` when an attempt
may have had its side effect (a call that may have left), ``0`` when none can have (each failed
before any byte was sent, or the provider refused it). Records without it predate it: unknown."""
"""Header on a replayed request naming what was replayed (``dlq:<topic>:<partition>:<offset>``)."""

ERROR_CATEGORIES: frozenset[str] = frozenset(
    {c.value for c in OutcomeCategory if c is not OutcomeCategory.SUCCEEDED}
    | {"undecodable", "outcome_unknown"}  # set by the worker's outputs, not by integrations
)
"""Every ``error.category`` a worker writes to results and dead letters."""


def _strings(value: Collection[str] | str) -> frozenset[str]:
    # A lone string is one value, not a collection of characters.
    return frozenset((value,) if isinstance(value, str) else value)


@dataclass(frozen=True, slots=True, init=False)
class ResultFilter:
    """Which results to keep; an empty criterion keeps everything, values within one are ORed.

    ``ResultFilter(bots={"bot-1"}, statuses={"FAILED", "EXPIRED"}, error_categories={"auth"})``
    """

    bots: frozenset[str]
    integrations: frozenset[str]
    statuses: frozenset[ResultStatus]
    error_categories: frozenset[str]

    def __init__(
        self,
        *,
        bots: Collection[str] | str = (),
        integrations: Collection[str] | str = (),
        statuses: Collection[ResultStatus | str] | str = (),
        error_categories: Collection[str] | str = (),
    ) -> None:
        object.__setattr__(self, "bots", _strings(bots))
        object.__setattr__(self, "integrations", _strings(integrations))
        raw = (statuses,) if isinstance(statuses, str) else statuses
        object.__setattr__(self, "statuses", frozenset(ResultStatus(s) for s in raw))
        object.__setattr__(self, "error_categories", _strings(error_categories))

    def matches(self, result: IntegrationResult) -> bool:
        """Whether ``result`` passes every criterion."""
        return self.matches_fields(
            bot_id=result.bot_id,
            integration_id=result.integration_id,
            status=result.status,
            error_category=None if result.error is None else result.error.category,
        )

    def matches_fields(
        self,
        *,
        bot_id: str | None,
        integration_id: str | None,
        status: ResultStatus | None,
        error_category: str | None,
    ) -> bool:
        """The same test on loose fields (a dead letter has no result, but has these)."""
        return (
            (not self.bots or bot_id in self.bots)
            and (not self.integrations or integration_id in self.integrations)
            and (not self.statuses or status in self.statuses)
            and (not self.error_categories or error_category in self.error_categories)
        )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A result with where it sits on the topic, its Kafka timestamp and headers."""

    result: IntegrationResult
    partition: int
    offset: int
    timestamp: datetime
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text, or None."""
        for key, value in reversed(self.headers):
            if key == name and value is not None:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def replay_of(self) -> str | None:
        """What this result's request replayed, when the worker carried the header over."""
        return self.header(REPLAY_OF_HEADER)


ProgressCallback = Callable[[int, int | None], None]
"""Called with (records read, records in the window or None when following)."""


class AuditReader:
    """Reads ``IntegrationResult`` events from the results topic, never in a consumer group.

    :meth:`between` reads a closed window and ends; :meth:`follow` waits for new results until
    the caller stops iterating. The ``*_records`` variants also give partition, offset,
    timestamp and headers (:class:`AuditRecord`).
    """

    def __init__(
        self,
        brokers: Brokers,
        topic: str,
        *,
        codec: AvroCodec | None = None,
        client_id: str = "actionstream-audit",
    ) -> None:
        self.brokers = brokers
        self.topic = topic
        self.undecodable = 0
        """Records skipped because they do not decode as results (across every read)."""
        self.positions: dict[int, int] = {}
        """After a read: the next offset per partition, for :meth:`follow_records` ``start``."""
        self._codec = codec or AvroCodec()
        self._client_id = client_id

    @classmethod
    def from_settings(cls, settings: StreamSettings) -> AuditReader:
        """A reader of ``settings.topics.results`` on ``settings.kafka``'s brokers."""
        return cls(settings.kafka, settings.topics.results)

    async def between(
        self,
        since: datetime | None,
        until: datetime | None = None,
        filters: ResultFilter | None = None,
    ) -> AsyncIterator[IntegrationResult]:
        """Results published in ``[since, until)`` (``until`` None: up to now) that pass
        ``filters``; ``since`` None reads from the beginning of the topic."""
        async for record in self.between_records(since, until, filters):
            yield record.result

    async def follow(
        self, filters: ResultFilter | None = None, *, since: datetime | None = None
    ) -> AsyncIterator[IntegrationResult]:
        """Results as they are published (from ``since``, else from now on); never ends."""
        async for record in self.follow_records(filters, since=since):
            yield record.result

    async def between_records(
        self,
        since: datetime | None,
        until: datetime | None = None,
        filters: ResultFilter | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> AsyncIterator[AuditRecord]:
        """Like :meth:`between`, with positions and headers; ``progress`` after each batch."""
        async for record in self._read(since, until, filters, False, None, progress):
            yield record

    async def follow_records(
        self,
        filters: ResultFilter | None = None,
        *,
        since: datetime | None = None,
        start: dict[int, int] | None = None,
    ) -> AsyncIterator[AuditRecord]:
        """Like :meth:`follow`, with positions and headers; ``start`` (partition → offset, e.g.
        :attr:`positions` after a :meth:`between_records`) continues exactly where that ended."""
        async for record in self._read(since, None, filters, True, start, None):
            yield record

    async def _read(
        self,
        since: datetime | None,
        until: datetime | None,
        filters: ResultFilter | None,
        follow: bool,
        start: dict[int, int] | None,
        progress: ProgressCallback | None,
    ) -> AsyncIterator[AuditRecord]:
        state = ScanProgress(
            on_update=None if progress is None else (lambda s: progress(s.read, s.total))
        )
        try:
            records = scan(
                self.brokers, self.topic, since=since, until=until, follow=follow,
                start=start, progress=state, client_id=self._client_id,
            )  # fmt: skip
            async for raw in records:
                record = self._decode(raw)
                if record is not None and (filters is None or filters.matches(record.result)):
                    yield record
        finally:
            self.positions = dict(state.positions)

    def _decode(self, raw: ConsumerRecord[bytes, bytes]) -> AuditRecord | None:
        try:
            if raw.value is None:
                raise SchemaDecodeError("record has no value (a tombstone)", b"")
            result = self._codec.decode(IntegrationResult, raw.value)
        except SchemaDecodeError as exc:
            self.undecodable += 1
            log.warning("skipping undecodable %s[%d]@%d: %s", raw.topic, raw.partition,
                        raw.offset, exc)  # fmt: skip
            return None
        return AuditRecord(
            result=result,
            partition=raw.partition,
            offset=raw.offset,
            timestamp=datetime.fromtimestamp(raw.timestamp / 1000, UTC),
            headers=tuple((k, v) for k, v in raw.headers if v is not None),
        )


# -- export formats ----------------------------------------------------------------------------

CSV_COLUMNS = (
    "timestamp", "partition", "offset", "request_id", "bot_id", "integration_id",
    "integration_version", "status", "error_category", "error_code", "error_message",
    "error_retryable", "attempt", "received_at", "started_at", "finished_at", "latency_ms",
    "worker_id", "replay_of", "response",
)  # fmt: skip
"""The columns of ``audit export --format csv``, in order."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def json_record(record: AuditRecord) -> dict[str, Any]:
    """One JSON-lines object: every result field, ``response`` parsed, plus the position."""
    result = record.result
    try:
        response: Any = json.loads(result.response)
    except ValueError:  # keep a malformed envelope as text rather than lose it
        response = result.response
    return {
        "timestamp": _iso(record.timestamp),
        "partition": record.partition,
        "offset": record.offset,
        "request_id": str(result.request_id),
        "bot_id": result.bot_id,
        "integration_id": result.integration_id,
        "integration_version": result.integration_version,
        "status": result.status.value,
        "error": None if result.error is None else result.error.to_avro(),
        "attempt": result.attempt,
        "received_at": _iso(result.received_at),
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "latency_ms": _latency_ms(result),
        "worker_id": result.worker_id,
        "replay_of": record.replay_of,
        "response": response,
    }


def csv_row(record: AuditRecord) -> list[str]:
    """One CSV row in :data:`CSV_COLUMNS` order; ``response`` stays JSON text."""
    result, error = record.result, record.result.error
    values: Iterable[object] = (
        _iso(record.timestamp), record.partition, record.offset, result.request_id,
        result.bot_id, result.integration_id, result.integration_version, result.status.value,
        None if error is None else error.category, None if error is None else error.code,
        None if error is None else error.message, None if error is None else error.retryable,
        result.attempt, _iso(result.received_at), _iso(result.started_at),
        _iso(result.finished_at), _latency_ms(result), result.worker_id, record.replay_of,
        result.response,
    )  # fmt: skip
    return ["" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            for value in values]  # fmt: skip


def _latency_ms(result: IntegrationResult) -> int:
    return int((result.finished_at - result.received_at).total_seconds() * 1000)
