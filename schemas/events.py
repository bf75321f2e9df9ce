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
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeAlias, TypeVar

__all__ = [
    "BOT_ID_MAX_CHARS",
    "ORDERING_KEY_HEADER",
    "ORDERING_KEY_MAX_BYTES",
    "AnyEvent",
    "DeadLetter",
    "ErrorRecord",
    "IntegrationRequest",
    "IntegrationResult",
    "ResponseEnvelope",
    "ResultStatus",
    "bot_id_problem",
    "ordering_key_problem",
    "utc_now",
]

BOT_ID_MAX_CHARS = 128
_BOT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def bot_id_problem(bot_id: str) -> str | None:
    """Why ``bot_id`` cannot identify a bot, or ``None`` when it can.

    1 to 128 characters: letters, digits and ``. _ : -``, starting with a letter or digit, no
    ``..`` (ids end up in Redis keys, URL paths and environment variable names).
    """
    shown = bot_id if len(bot_id) <= 40 else bot_id[:40] + "…"
    if not bot_id or len(bot_id) > BOT_ID_MAX_CHARS:
        return f"bot_id {shown!r} has {len(bot_id)} characters; it needs 1 to {BOT_ID_MAX_CHARS}"
    if _BOT_ID.fullmatch(bot_id) is None or ".." in bot_id:
        return (
            f"bot_id {shown!r} is not an id: use letters, digits and . _ : - only, starting "
            "with a letter or digit (a UUID is best)"
        )
    return None


ORDERING_KEY_HEADER = "actionstream-ordering-key"
"""The Kafka header that carries a request's ``ordering_key`` (UTF-8): the scheduler picks the
lane from it without decoding the record. Publishers set it together with the field."""
ORDERING_KEY_MAX_BYTES = 256


def ordering_key_problem(ordering_key: str | None, header: bytes | None) -> str | None:
    """Why a request's ordering key cannot be honoured, or ``None`` when it can.

    The key is 1 to 256 bytes of UTF-8, and the header, when present, says the same as the
    field: the header chose the lane the request waited in, so a disagreement means the order
    the field asks for was not kept. A field without the header ran in the bot's one order,
    which keeps any order the field asks for.
    """
    if ordering_key is None:
        if header is None:
            return None
        return (
            f"the record's {ORDERING_KEY_HEADER} header is set but the request has no "
            "ordering_key; publish both or neither (topics.publisher does)"
        )
    size = len(ordering_key.encode())
    shown = ordering_key if len(ordering_key) <= 40 else ordering_key[:40] + "…"
    if not 1 <= size <= ORDERING_KEY_MAX_BYTES:
        return (
            f"ordering_key {shown!r} has {size} bytes; it needs 1 to {ORDERING_KEY_MAX_BYTES} "
            "(a chat id or a conversation id)"
        )
    if header is not None and header != ordering_key.encode():
        return (
            f"the record's {ORDERING_KEY_HEADER} header is "
            f"{header[:40].decode('utf-8', 'replace')!r} but its ordering_key is {shown!r}; "
            "publish both with the same value (topics.publisher does)"
        )
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """The current UTC time truncated to milliseconds, the precision of ``timestamp-millis``."""
    return _EPOCH + timedelta(milliseconds=time.time_ns() // 1_000_000)


RecordT = TypeVar("RecordT", bound="AvroRecord")


class AvroRecord:
    """``to_avro`` / ``from_avro`` for a frozen dataclass whose fields are its record's fields.

    A field holding another record is written as its datum; :attr:`DECODE` names the fields read
    back through a function (a nested record's ``from_avro``, an enum), ``None`` kept.
    """

    __slots__ = ()
    DECODE: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    def to_avro(self) -> dict[str, Any]:
        """The Avro datum."""
        return _datum(self)

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum (its keys are exactly this class's fields)."""
        return _record(cls, datum)


# Not ``super()`` in subclasses: slots dataclasses are rebuilt classes that zero-argument
# ``super()`` does not know.
_FIELDS: dict[type, tuple[str, ...]] = {}


def _datum(record: AvroRecord) -> dict[str, Any]:
    cls = type(record)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(record))  # type: ignore[arg-type]
    datum = {name: getattr(record, name) for name in names}
    for name, value in datum.items():
        if isinstance(value, AvroRecord):
            datum[name] = value.to_avro()
    return datum


def _record(cls: type[RecordT], datum: Mapping[str, Any]) -> RecordT:
    if not cls.DECODE:
        return cls(**datum)
    values = dict(datum)
    for name, decode in cls.DECODE.items():
        value = values[name]
        values[name] = None if value is None else decode(value)
    return cls(**values)


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
    CANCELLED = "CANCELLED"
    """Schema v2: an operator cancelled the request before it started; it never ran."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRecord(AvroRecord):
    """Why an action failed: the Avro record ``IntegrationError`` (its name in the schemas, kept
    for old data), in results and dead letters; not the exception of :mod:`integrations.errors`."""

    category: str
    """rate_limited, transient, auth, invalid_config, permanent, expired, internal, unavailable,
    not_found (or undecodable, in dead letters); a plain string so new categories stay readable."""
    message: str
    code: int | None = None
    retryable: bool = False
    retry_after_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationRequest(AvroRecord):
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
    ordering_key: str | None = None
    """v2: requests of one bot with the same key run in publish order, different keys
    concurrently; None is one order for the whole bot. See :data:`ORDERING_KEY_HEADER`."""

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
        ordering_key: str | None = None,
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
            ordering_key=ordering_key,
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


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationResult(AvroRecord):
    """The one result published per request (``integration_result`` schema); never a secret."""

    RECORD_TYPE: ClassVar[str] = "integration_result"
    DECODE: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "status": ResultStatus,
        "error": ErrorRecord.from_avro,
    }

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
        attempt: int | None = None,
    ) -> Self:
        """The result answering ``request``: ids and bot are copied from it, and the attempt
        unless ``attempt`` is given.

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
            attempt=request.attempt if attempt is None else attempt,
            integration_version=integration_version,
            error=error,
            started_at=started_at,
        )

    def envelope(self) -> ResponseEnvelope:
        """``response`` parsed; raises ``ValueError`` when it is not an envelope."""
        return ResponseEnvelope.from_json(self.response)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter(AvroRecord):
    """A record that could not be processed, with its original bytes (``dead_letter`` schema)."""

    RECORD_TYPE: ClassVar[str] = "dead_letter"
    DECODE: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"error": ErrorRecord.from_avro}

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
        """The Avro datum (headers as the schema's ``{key, value}`` records)."""
        datum = _datum(self)
        datum["headers"] = [{"key": key, "value": value} for key, value in self.headers]
        return datum

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """Build from a decoded Avro datum."""
        headers = tuple((h["key"], h["value"]) for h in datum["headers"])
        return _record(cls, {**datum, "headers": headers})


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
