"""Errors raised by the schemas package.

::

    SchemaError                    base; never raised itself
     ├── SchemaDecodeError         bytes that are not a readable event (.raw holds them)
     │    └── UnknownSchemaError   well framed, but the writer schema is not known here
     ├── SchemaEncodeError         an event that does not fit its schema
     └── SchemaRegistryError       the Schema Registry refused a call or could not be reached

The decision sits on the class: ``retryable`` says whether trying the same thing again may work.
A decode error is never retryable (the bytes will not change: dead-letter them). An unknown schema
is not retryable by this process either (its fingerprint is in no bundled ``.avsc``, or the registry
does not know the id): the record goes to the DLQ and is replayed after a deploy that knows it. A
registry error is retryable when the registry was unreachable or answered 5xx.
"""

from __future__ import annotations

# How much of the offending bytes an error message shows: enough to recognise a format
# (JSON, a Confluent frame, plain text), never a whole payload in a log line.
_PREVIEW_BYTES = 16


def preview(raw: bytes) -> str:
    """A short hex rendering of ``raw`` for error messages: length plus the first bytes."""
    head = raw[:_PREVIEW_BYTES].hex(" ")
    more = "…" if len(raw) > _PREVIEW_BYTES else ""
    return f"{len(raw)} bytes: {head}{more}"


class SchemaError(Exception):
    """Base class of every error raised by :mod:`schemas`."""

    retryable: bool = False


class SchemaDecodeError(SchemaError):
    """Bytes that could not be decoded into the expected event.

    ``raw`` is the whole input, so that a dead-letter record can carry it unchanged.
    """

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(f"{message} ({preview(raw)})")
        self.raw = raw


class UnknownSchemaError(SchemaDecodeError):
    """The framing is valid but this process does not know the writer's schema.

    Exactly one of ``fingerprint`` (single-object encoding, 8 bytes) and ``schema_id``
    (Confluent framing) is set.
    """

    def __init__(
        self,
        message: str,
        raw: bytes,
        *,
        fingerprint: bytes | None = None,
        schema_id: int | None = None,
    ) -> None:
        super().__init__(message, raw)
        self.fingerprint = fingerprint
        self.schema_id = schema_id


class SchemaEncodeError(SchemaError):
    """An event (or dict) that does not fit the schema it is written with."""


class SchemaRegistryError(SchemaError):
    """The Schema Registry answered with an error, or could not be reached.

    ``status`` is the HTTP status (None when no answer came), ``error_code`` the registry's own
    code (e.g. 40403 "schema not found"), when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, error_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.retryable = status is None or status >= 500
