"""Turn an execution into the events we publish: the result, and a dead letter when due."""

from __future__ import annotations

from collections.abc import Mapping
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
) -> IntegrationResult:
    """The one result answering ``request``."""
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
        error=error_for(outcome),
    )


def needs_dead_letter(outcome: Outcome) -> bool:
    return outcome.category in DEAD_LETTER_CATEGORIES


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
    """A dead letter keeping the original bytes, key, headers and position of ``record``."""
    return DeadLetter(
        original=record.value or b"",
        original_key=record.key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        headers=record.headers,
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
