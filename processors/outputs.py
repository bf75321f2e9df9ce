"""Everything a worker publishes: results, duplicates, dead letters and delayed retries.

Every publish returns only once the broker has the record (see :mod:`processors.sink`), so the
caller may then release the input record's offset for commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from integrations import spans
from processors.executor import Execution
from processors.metrics import NO_METRICS, Metrics
from processors.records import InboundRecord
from processors.results import dead_letter_for, internal_outcome, result_for
from processors.retries import ATTEMPTS_HEADER, Attempt, encode_attempts
from processors.settings import TopicSettings
from processors.sink import KafkaHeaders, OutputSink
from schemas import (
    ORDERING_KEY_HEADER,
    AvroCodec,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    utc_now,
)
from topics.audit import MAYBE_EXECUTED_HEADER

log = logging.getLogger("actionstream.outputs")

# Headers carried from a request to its result, dead letter and retries: W3C trace context, and
# the link from a replayed request to the failure it replays (set by `actionstream replay`).
PROPAGATED_HEADERS = ("traceparent", "tracestate", "replay-of", ORDERING_KEY_HEADER)


class Outputs:
    """Publishes every kind of output, keyed by ``bot_id``."""

    def __init__(
        self,
        *,
        codec: AvroCodec,
        sink: OutputSink,
        topics: TopicSettings,
        worker_id: str,
        clock: Callable[[], datetime] = utc_now,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._codec = codec
        self._sink = sink
        self._topics = topics
        self._worker_id = worker_id
        self._clock = clock
        self._metrics = metrics

    @property
    def codec(self) -> AvroCodec:
        return self._codec

    @property
    def retry_topic(self) -> str:
        """Where delayed retries go: the only topic whose ``not_before`` is honoured."""
        return self._topics.retry

    async def _publish(self, topic: str, key: bytes, value: bytes, headers: KafkaHeaders) -> None:
        """One record, under its PRODUCER span (when spans are made)."""
        if not spans.enabled():
            await self._sink.publish(topic, key, value, headers)
            return
        with spans.span(f"{topic} publish", kind="producer", attributes=_messaging(topic)):
            await self._sink.publish(topic, key, value, _own_context(headers))

    async def result(
        self,
        record: InboundRecord,
        request: IntegrationRequest,
        execution: Execution,
        *,
        received_at: datetime,
        status: ResultStatus | None = None,
        attempt: int | None = None,
        error: ErrorRecord | None = None,
        before_publish: Callable[[bytes], Awaitable[bytes | None]] | None = None,
        maybe_executed: bool | None = None,
    ) -> tuple[IntegrationResult, bytes]:
        """Publish the one result of ``request``; returns it and its encoded bytes.

        ``before_publish`` gets the encoded result first: the processor stores it as the
        request's idempotency record *before* anyone can see it, so a crash in between leaves a
        stored result to re-emit (as DUPLICATE) rather than an executed action nobody recorded.
        When it returns bytes instead of ``None``, another owner's result was stored first: that
        one is published, as DUPLICATE, and returned. ``maybe_executed`` (failures) becomes the
        :data:`~topics.audit.MAYBE_EXECUTED_HEADER` the replay guard reads.
        """
        try:
            result = result_for(
                request, execution, received_at=received_at, worker_id=self._worker_id,
                status=status, attempt=attempt, error=error,
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            # The integration said ok, but its result cannot be serialised: that is its bug.
            message = (
                f"integration {request.integration_id} returned an unpublishable result: {exc}"
            )
            execution = replace(execution, outcome=internal_outcome(message))
            result = result_for(
                request, execution, received_at=received_at, worker_id=self._worker_id,
                attempt=attempt, error=error,
            )  # fmt: skip
        value = self._codec.encode(result)
        if before_publish is not None:
            stored = await before_publish(value)
            if stored is not None:
                duplicate = await self.duplicate(record, request, stored, received_at=received_at)
                return duplicate, stored
        await self._publish(
            self._topics.results,
            request.bot_id.encode(),
            value,
            _propagated(record, maybe_executed),
        )
        self._metrics.result(request.integration_id, result.status.value, request.created_at)
        return result, value

    async def duplicate(
        self,
        record: InboundRecord,
        request: IntegrationRequest,
        stored: bytes,
        *,
        received_at: datetime,
    ) -> IntegrationResult:
        """Re-emit the stored result of an already executed request as DUPLICATE."""
        original = self._codec.decode(IntegrationResult, stored)
        result = replace(
            original,
            request_id=request.request_id,
            bot_id=request.bot_id,
            status=ResultStatus.DUPLICATE,
            received_at=received_at,
            started_at=None,
            finished_at=self._clock(),
            worker_id=self._worker_id,
            attempt=request.attempt,
        )
        await self._publish(
            self._topics.results,
            request.bot_id.encode(),
            self._codec.encode(result),
            _propagated(record),
        )
        self._metrics.result(request.integration_id, result.status.value, request.created_at)
        return result

    async def dead_letter(
        self,
        record: InboundRecord,
        error: ErrorRecord,
        *,
        request: IntegrationRequest | None = None,
        integration_version: str | None = None,
        attempts: int = 1,
        first_failure_at: datetime | None = None,
        maybe_executed: bool | None = None,
    ) -> None:
        letter = dead_letter_for(
            record,
            error=error,
            worker_id=self._worker_id,
            failed_at=self._clock(),
            request=request,
            integration_version=integration_version,
            attempts=attempts,
            first_failure_at=first_failure_at,
        )
        await self._publish(
            self._topics.dlq,
            record.key or b"",
            self._codec.encode(letter),
            _propagated(record, maybe_executed),
        )
        self._metrics.dead_letter(request.integration_id if request else None, error.category)

    async def retry(
        self,
        record: InboundRecord,
        request: IntegrationRequest,
        *,
        attempt: int,
        not_before: datetime,
        history: Sequence[Attempt],
    ) -> None:
        """Hand the request to the retry topic, to run again at ``not_before``."""
        retried = replace(request, attempt=attempt, not_before=not_before)
        headers = [*_propagated(record), (ATTEMPTS_HEADER, encode_attempts(history))]
        await self._publish(
            self._topics.retry, request.bot_id.encode(), self._codec.encode(retried), headers
        )


def _messaging(topic: str) -> dict[str, str]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic}


def _own_context(headers: KafkaHeaders) -> KafkaHeaders:
    """``headers`` with the current span's ``traceparent`` (when spans are made) in place of
    the one the request came with: a consumer of the record continues from this span."""
    own = spans.own_traceparent()
    if own is None:
        return headers
    return [(k, v) for k, v in headers if k != "traceparent"] + [("traceparent", own.encode())]


def _propagated(record: InboundRecord, maybe_executed: bool | None = None) -> KafkaHeaders:
    headers = [
        (name, value)
        for name, value in record.headers
        if name in PROPAGATED_HEADERS and value is not None
    ]
    if maybe_executed is not None:
        headers.append((MAYBE_EXECUTED_HEADER, b"1" if maybe_executed else b"0"))
    return headers
