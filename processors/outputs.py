"""One inbound record in, exactly one result (and a dead letter when due) out.

:meth:`RequestHandler.handle` never raises for a bad record: undecodable bytes become a dead
letter, a decodable request always gets a result. It only returns once everything it produced is
on Kafka, so the caller may then release the record's offset for commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from processors.executor import Execution, Executor
from processors.records import InboundRecord
from processors.results import (
    dead_letter_for,
    error_for,
    internal_outcome,
    needs_dead_letter,
    result_for,
)
from processors.settings import TopicSettings
from processors.sink import KafkaHeaders, OutputSink
from schemas import (
    AvroCodec,
    IntegrationError,
    IntegrationRequest,
    IntegrationResult,
    SchemaDecodeError,
    SchemaRegistryError,
    utc_now,
)

log = logging.getLogger("actionstream.handler")

# Headers carried from a request to its result (W3C trace context).
PROPAGATED_HEADERS = ("traceparent", "tracestate")


class RequestHandler:
    """Decodes, executes and publishes; the seam the ordering scheduler drives."""

    def __init__(
        self,
        *,
        codec: AvroCodec,
        executor: Executor,
        sink: OutputSink,
        topics: TopicSettings,
        worker_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._codec = codec
        self._executor = executor
        self._sink = sink
        self._topics = topics
        self._worker_id = worker_id
        self._clock = clock

    async def decode(self, record: InboundRecord) -> IntegrationRequest | None:
        """The request, or ``None`` after dead-lettering a record that is not one.

        An unreachable Schema Registry is not the record's fault: wait for it rather than
        dead-letter a good request.
        """
        backoff_s = 0.5
        while True:
            try:
                if record.value is None:
                    raise SchemaDecodeError("record has no value (a tombstone)", raw=b"")
                return await self._codec.decode_async(IntegrationRequest, record.value)
            except SchemaRegistryError as exc:
                if not exc.retryable:
                    await self._undecodable(record, exc)
                    return None
                log.warning("schema registry unavailable, retrying in %.1fs: %s", backoff_s, exc)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 10.0)
            except SchemaDecodeError as exc:
                await self._undecodable(record, exc)
                return None

    async def _undecodable(self, record: InboundRecord, exc: Exception) -> None:
        log.warning(
            "undecodable record %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            exc,
        )
        error = IntegrationError(category="undecodable", message=str(exc), code=400)
        await self.dead_letter(record, error)

    async def handle(self, record: InboundRecord) -> None:
        """Process one record end to end."""
        received_at = self._clock()
        request = await self.decode(record)
        if request is None:
            return
        traceparent = record.header("traceparent")
        execution = await self._executor.run(
            request, traceparent=traceparent.decode("latin-1") if traceparent else None
        )
        await self.publish_outcome(record, request, execution, received_at=received_at)

    async def publish_outcome(
        self,
        record: InboundRecord,
        request: IntegrationRequest,
        execution: Execution,
        *,
        received_at: datetime,
    ) -> IntegrationResult:
        """Publish the result and, for failures an operator must see, a dead letter."""
        try:
            result = result_for(
                request, execution, received_at=received_at, worker_id=self._worker_id
            )
        except (TypeError, ValueError) as exc:
            # The integration said ok, but its result cannot be serialised: that is its bug.
            message = (
                f"integration {request.integration_id} returned an unpublishable result: {exc}"
            )
            execution = replace(execution, outcome=internal_outcome(message))
            result = result_for(
                request, execution, received_at=received_at, worker_id=self._worker_id
            )
        await self._sink.publish(
            self._topics.results,
            request.bot_id.encode(),
            self._codec.encode(result),
            _propagated(record),
        )
        error = error_for(execution.outcome)
        if error is not None and needs_dead_letter(execution.outcome):
            await self.dead_letter(
                record,
                error,
                request=request,
                integration_version=result.integration_version,
                first_failure_at=execution.finished_at,
            )
        return result

    async def dead_letter(
        self,
        record: InboundRecord,
        error: IntegrationError,
        *,
        request: IntegrationRequest | None = None,
        integration_version: str | None = None,
        attempts: int = 1,
        first_failure_at: datetime | None = None,
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
        await self._sink.publish(
            self._topics.dlq, record.key or b"", self._codec.encode(letter), _propagated(record)
        )


def _propagated(record: InboundRecord) -> KafkaHeaders:
    return [
        (name, value)
        for name, value in record.headers
        if name in PROPAGATED_HEADERS and value is not None
    ]
