"""Turn an execution into the events we publish: the result, and a dead letter when due."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from integrations.errors import OutcomeCategory
from integrations.outcome import Outcome
from processors.executor import Execution
from processors.records import InboundRecord
from schemas import (
    DeadLetter,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResponseEnvelope,
    ResultStatus,
)

# Failures an operator has to look at: they go to the DLQ besides their FAILED result.
DEAD_LETTER_CATEGORIES = frozenset(
    {
        OutcomeCategory.INVALID_CONFIG,
        OutcomeCategory.PERMANENT,
        OutcomeCategory.INTERNAL,
        OutcomeCategory.UNAVAILABLE,
        OutcomeCategory.NOT_FOUND,
        OutcomeCategory.AUTH,
        OutcomeCategory.RATE_LIMITED,
        OutcomeCategory.TRANSIENT,
    }
)


def status_for(outcome: Outcome) -> ResultStatus:
    if outcome.succeeded:
        return ResultStatus.SUCCEEDED
    if outcome.category is OutcomeCategory.EXPIRED:
        return ResultStatus.EXPIRED
    return ResultStatus.FAILED


def error_for(outcome: Outcome) -> ErrorRecord | None:
    record = outcome.error_record()
    return None if record is None else ErrorRecord(**record)


def envelope_for(outcome: Outcome) -> ResponseEnvelope:
    return ResponseEnvelope.from_mapping(outcome.response)


def result_for(
    request: IntegrationRequest,
    execution: Execution,
    *,
    received_at: datetime,
    worker_id: str,
    status: ResultStatus | None = None,
    attempt: int | None = None,
    error: ErrorRecord | None = None,
) -> IntegrationResult:
    """The one result answering ``request``; ``error`` replaces the outcome's own."""
    outcome = execution.outcome
    return IntegrationResult.for_request(
        request,
        status=status or status_for(outcome),
        response=envelope_for(outcome),
        received_at=received_at,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        worker_id=worker_id,
        integration_version=(
            execution.metadata.version if execution.metadata else request.integration_version
        ),
        error=error if error is not None else error_for(outcome),
        attempt=attempt,
    )


def needs_dead_letter(outcome: Outcome) -> bool:
    return outcome.category in DEAD_LETTER_CATEGORIES


# A dead letter stays well under Kafka's default 1 MiB message limit, whatever it carries.
MAX_ORIGINAL_BYTES = 512 * 1024
MAX_HEADER_BYTES = 4096
MAX_HEADERS = 64
MAX_MESSAGE_CHARS = 8192


def dead_letter_for(
    record: InboundRecord,
    *,
    error: ErrorRecord,
    worker_id: str,
    failed_at: datetime,
    request: IntegrationRequest | None = None,
    integration_version: str | None = None,
    attempts: int = 1,
    first_failure_at: datetime | None = None,
) -> DeadLetter:
    """A dead letter keeping the original bytes, key, headers and position of ``record``.

    It always fits the producer's limit: an original over :data:`MAX_ORIGINAL_BYTES` is cut
    (the message says how long it was and its SHA-256), as are long keys, headers and messages.
    """
    original = record.value or b""
    if len(original) > MAX_ORIGINAL_BYTES:
        digest = hashlib.sha256(original).hexdigest()
        note = (
            f" (original cut to its first {MAX_ORIGINAL_BYTES} of {len(original)} bytes; "
            f"sha256 {digest})"
        )
        error = replace(error, message=error.message[: MAX_MESSAGE_CHARS - len(note)] + note)
        original = original[:MAX_ORIGINAL_BYTES]
    elif len(error.message) > MAX_MESSAGE_CHARS:
        error = replace(error, message=error.message[: MAX_MESSAGE_CHARS - 1] + "…")
    headers = tuple(
        (name[:256], None if value is None else value[:MAX_HEADER_BYTES])
        for name, value in record.headers[:MAX_HEADERS]
    )
    return DeadLetter(
        original=original,
        original_key=None if record.key is None else record.key[:MAX_HEADER_BYTES],
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        headers=headers,
        error=error,
        worker_id=worker_id,
        failed_at=failed_at,
        request_id=None if request is None else str(request.request_id),
        bot_id=None if request is None else request.bot_id,
        integration_id=None if request is None else request.integration_id,
        integration_version=integration_version,
        attempts=attempts,
        first_failure_at=first_failure_at or failed_at,
        last_failure_at=failed_at,
    )


def internal_outcome(message: str, response: Mapping[str, Any] | None = None) -> Outcome:
    """An outcome for a failure of our own making (e.g. an unserialisable result)."""
    body = dict(response or {"ok": False, "error_code": 500, "description": message})
    return Outcome(OutcomeCategory.INTERNAL, 500, message, False, None, body)
