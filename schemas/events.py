"""Typed events: the three Avro records as frozen dataclasses, plus the seed's response envelope.

Frozen ``slots`` dataclasses rather than pydantic models: an event is built and read once per Kafka
record, and a dataclass costs about a microsecond there, several times less than validating a
pydantic model; the Avro schema already checks types on the wire.

Conventions, the same in every event:

* timestamps are timezone-aware ``datetime`` in UTC, as fastavro reads ``timestamp-millis``; the
  wire keeps milliseconds, so :func:`utc_now` truncates to them and round trips compare equal;
* ``request_id`` is a :class:`uuid.UUID` (the schema's ``uuid`` logical type) except in
  :class:`DeadLetter`, where it is whatever text could be salvaged from an undecodable record;
* JSON payloads (``config``, ``response``) travel as text; :meth:`IntegrationRequest.config_dict`
  and :class:`ResponseEnvelope` parse them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeAlias

__all__ = [
    "AnyEvent",
    "DeadLetter",
    "ErrorRecord",
    "IntegrationRequest",
    "IntegrationResult",
    "ResponseEnvelope",
    "ResultStatus",
    "utc_now",
]


def utc_now() -> datetime:
    """The current UTC time truncated to milliseconds, the precision of ``timestamp-millis``."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _require_aware(event: object, names: tuple[str, ...]) -> None:
    # fastavro would write a naive datetime as local time: refuse it where the event is built.
    for name in names:
        stamp = getattr(event, name)
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError(
                f"{type(event).__name__}.{name} must be a timezone-aware datetime (UTC), "
                f"got naive {stamp.isoformat()}"
            )


class ResultStatus(StrEnum):
    """Outcome of one request; an unknown symbol from a newer writer reads as OUTCOME_UNKNOWN."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    DUPLICATE = "DUPLICATE"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRecord:
    """Why an action failed: the Avro record ``IntegrationError`` (its name in the schemas, kept
    for old data), in results and dead letters; not the exception of :mod:`integrations.errors`."""

    category: str
    """rate_limited, transient, auth, invalid_config, permanent, expired, internal, unavailable,
    not_found (or undecodable, in dead letters); a plain string so new categories stay readable."""
    message: str
    code: int | None = None
    retryable: bool = False
    retry_after_ms: int | None = None

    def to_avro(self) -> dict[str, Any]:
        """The Avro datum."""
        return {
            "category": self.category,
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after_ms": self.retry_after_ms,
        }

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum (its keys are exactly this class's fields)."""
        return cls(**datum)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationRequest:
    """A bot runtime's request to run one integration action (``integration_request`` schema)."""

    RECORD_TYPE: ClassVar[str] = "integration_request"

    request_id: uuid.UUID
    bot_id: str
    integration_id: str
    config: str
    """The action's configuration as JSON text."""
    created_at: datetime
    integration_version: str | None = None
    connection_group_id: str | None = None
    idempotency_key: str | None = None
    attempt: int = 1
    deadline: datetime | None = None
    not_before: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self, ("created_at", "deadline", "not_before"))

    @classmethod
    def new(
        cls,
        *,
        bot_id: str,
        integration_id: str,
        config: Mapping[str, Any] | str,
        now: datetime | None = None,
        integration_version: str | None = None,
        connection_group_id: str | None = None,
        idempotency_key: str | None = None,
        deadline: datetime | None = None,
    ) -> Self:
        """A fresh first attempt: new ``request_id``, ``created_at`` = ``now`` (default
        :func:`utc_now`); ``config`` may be a mapping (serialised to JSON) or JSON text."""
        text = config if isinstance(config, str) else json.dumps(config, ensure_ascii=False)
        return cls(
            request_id=uuid.uuid4(),
            bot_id=bot_id,
            integration_id=integration_id,
            config=text,
            created_at=now if now is not None else utc_now(),
            integration_version=integration_version,
            connection_group_id=connection_group_id,
            idempotency_key=idempotency_key,
            deadline=deadline,
        )

    def config_dict(self) -> dict[str, Any]:
        """``config`` parsed; raises ``ValueError`` when it is not a JSON object."""
        parsed = json.loads(self.config)
        if not isinstance(parsed, dict):
            raise ValueError(f"config must be a JSON object, got {type(parsed).__name__}")
        return parsed

    def retry(self, *, not_before: datetime) -> Self:
        """The same request, one attempt later, not to run before ``not_before``."""
        return replace(self, attempt=self.attempt + 1, not_before=not_before)

    def to_avro(self) -> dict[str, Any]:
        """The Avro datum."""
        return {
            "request_id": self.request_id,
            "bot_id": self.bot_id,
            "integration_id": self.integration_id,
            "integration_version": self.integration_version,
            "config": self.config,
            "connection_group_id": self.connection_group_id,
            "idempotency_key": self.idempotency_key,
            "attempt": self.attempt,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "not_before": self.not_before,
        }

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum (its keys are exactly this class's fields)."""
        return cls(**datum)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationResult:
    """The one result published per request (``integration_result`` schema); never a secret."""

    RECORD_TYPE: ClassVar[str] = "integration_result"

    request_id: uuid.UUID
    bot_id: str
    integration_id: str
    status: ResultStatus
    response: str
    """The response envelope as JSON text; see :class:`ResponseEnvelope`."""
    received_at: datetime
    finished_at: datetime
    worker_id: str
    integration_version: str | None = None
    error: ErrorRecord | None = None
    attempt: int = 1
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self, ("received_at", "started_at", "finished_at"))

    @classmethod
    def for_request(
        cls,
        request: IntegrationRequest,
        *,
        status: ResultStatus,
        response: ResponseEnvelope,
        received_at: datetime,
        finished_at: datetime,
        worker_id: str,
        integration_version: str | None = None,
        error: ErrorRecord | None = None,
        started_at: datetime | None = None,
    ) -> Self:
        """The result answering ``request``: ids, bot and attempt are copied from it.

        ``integration_version`` is the version that ran (None when nothing ran).
        """
        return cls(
            request_id=request.request_id,
            bot_id=request.bot_id,
            integration_id=request.integration_id,
            status=status,
            response=response.to_json(),
            received_at=received_at,
            finished_at=finished_at,
            worker_id=worker_id,
            attempt=request.attempt,
            integration_version=integration_version,
            error=error,
            started_at=started_at,
        )

    def envelope(self) -> ResponseEnvelope:
        """``response`` parsed; raises ``ValueError`` when it is not an envelope."""
        return ResponseEnvelope.from_json(self.response)

    def to_avro(self) -> dict[str, Any]:
        """The Avro datum."""
        return {
            "request_id": self.request_id,
            "bot_id": self.bot_id,
            "integration_id": self.integration_id,
            "integration_version": self.integration_version,
            "status": self.status,
            "response": self.response,
            "error": None if self.error is None else self.error.to_avro(),
            "attempt": self.attempt,
            "received_at": self.received_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker_id": self.worker_id,
        }

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum (its keys are exactly this class's fields)."""
        error = datum["error"]
        return cls(
            **{
                **datum,
                "status": ResultStatus(datum["status"]),
                "error": None if error is None else ErrorRecord.from_avro(error),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A record that could not be processed, with its original bytes (``dead_letter`` schema)."""

    RECORD_TYPE: ClassVar[str] = "dead_letter"

    original: bytes
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    """Kafka timestamp of the original record."""
    error: ErrorRecord
    worker_id: str
    failed_at: datetime
    original_key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = field(default=())
    """The original headers in order, as aiokafka gives them: ``(key, value)`` pairs."""
    request_id: str | None = None
    bot_id: str | None = None
    integration_id: str | None = None
    integration_version: str | None = None
    attempts: int = 1
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self, ("timestamp", "failed_at", "first_failure_at", "last_failure_at"))

    def to_avro(self) -> dict[str, Any]:
        """The Avro datum."""
        return {
            "original": self.original,
            "original_key": self.original_key,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "headers": [{"key": key, "value": value} for key, value in self.headers],
            "request_id": self.request_id,
            "bot_id": self.bot_id,
            "integration_id": self.integration_id,
            "integration_version": self.integration_version,
            "error": self.error.to_avro(),
            "attempts": self.attempts,
            "first_failure_at": self.first_failure_at,
            "last_failure_at": self.last_failure_at,
            "worker_id": self.worker_id,
            "failed_at": self.failed_at,
        }

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum (its keys are exactly this class's fields)."""
        return cls(
            **{
                **datum,
                "headers": tuple((h["key"], h["value"]) for h in datum["headers"]),
                "error": ErrorRecord.from_avro(datum["error"]),
            }
        )


@dataclass(frozen=True, slots=True)
class ResponseEnvelope:
    """The seed's response envelope: ``{"ok": true, "result": …}`` or
    ``{"ok": false, "error_code": N, "description": …}``, with Telegram-style ``parameters``
    (e.g. ``{"retry_after": 5}`` or ``{"migrate_to_chat_id": -100…}``) allowed on failures."""

    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    parameters: Mapping[str, Any] | None = None

    @classmethod
    def success(cls, result: Any) -> Self:
        """An ``ok`` envelope around a JSON-serialisable ``result``."""
        return cls(ok=True, result=result)

    @classmethod
    def failure(
        cls, error_code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> Self:
        """A failed envelope, as the seed's integrations return them."""
        return cls(ok=False, error_code=error_code, description=description, parameters=parameters)

    def to_json(self) -> str:
        """Compact JSON text; raises ``TypeError`` when ``result`` is not JSON-serialisable."""
        body: dict[str, Any]
        if self.ok:
            body = {"ok": True, "result": self.result}
        else:
            body = {"ok": False, "error_code": self.error_code, "description": self.description}
            if self.parameters:
                body["parameters"] = dict(self.parameters)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any]) -> Self:
        """Check and wrap an envelope dict (e.g. the ``"response"`` an integration returned)."""
        ok = body.get("ok")
        if not isinstance(ok, bool):
            raise ValueError(f'response envelope needs a boolean "ok", got {ok!r}')
        if ok:
            return cls(ok=True, result=body.get("result"))
        code = body.get("error_code")
        description = body.get("description")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f'"error_code" must be an integer, got {code!r}')
        if description is not None and not isinstance(description, str):
            raise ValueError(f'"description" must be a string, got {description!r}')
        parameters = body.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise ValueError(f'"parameters" must be an object, got {parameters!r}')
        return cls(ok=False, error_code=code, description=description, parameters=parameters)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse envelope JSON text; raises ``ValueError`` when it is not an envelope."""
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError(f"response envelope must be a JSON object, got {type(body).__name__}")
        return cls.from_mapping(body)


AnyEvent: TypeAlias = IntegrationRequest | IntegrationResult | DeadLetter
"""Any of the three events the codec encodes."""
