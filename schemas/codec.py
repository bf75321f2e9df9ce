"""The Avro codec: framing, writer-schema lookup, schema resolution, typed encode and decode.

Wire formats (readers accept both, always)::

    single-object   C3 01 | CRC-64-AVRO fingerprint, 8 bytes little-endian | Avro body
    Confluent       00    | schema id, 4 bytes big-endian                  | Avro body

Writers use single-object encoding unless a :class:`SchemaRegistryClient` is given, in which case
they write Confluent framing with the ids registered by :meth:`AvroCodec.prepare`.

Registry calls stay off the hot path: :meth:`AvroCodec.prepare` (async, once at start-up)
registers ``<topic>-value`` for every topic the process writes and caches the ids; after it,
:meth:`~AvroCodec.encode` and :meth:`~AvroCodec.decode` are synchronous and never do I/O. The one
case that needs the registry while running is a Confluent frame whose id this process has not seen
(another producer registered a newer schema): :meth:`~AvroCodec.decode` raises
:class:`UnknownSchemaError` with ``schema_id`` set, and :meth:`~AvroCodec.decode_async` fetches the
schema (once per id) and decodes. Consumers that may see foreign ids call ``decode_async``; it only
awaits the first time an id appears.

Decoding is strict and bounded: wrong magic, an unknown fingerprint or id, a truncated body, bytes
left over after the record, or any failure inside fastavro becomes a :class:`SchemaDecodeError`
carrying the raw bytes. fastavro reads length-prefixed data in bounded chunks from the in-memory
buffer, so a garbage length fails with EOF instead of allocating it (the fuzz test holds us to it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, TypeVar

from fastavro import schemaless_reader, schemaless_writer

from schemas.errors import (
    SchemaDecodeError,
    SchemaEncodeError,
    SchemaRegistryError,
    UnknownSchemaError,
)
from schemas.events import AnyEvent, DeadLetter, IntegrationRequest, IntegrationResult
from schemas.registry_client import SchemaRegistryClient
from schemas.store import SchemaStore, StoredSchema

__all__ = ["CONFLUENT_MAGIC", "AvroCodec"]

CONFLUENT_MAGIC = b"\x00"
_SINGLE_OBJECT_FIRST = 0xC3
_SINGLE_OBJECT_HEADER_LEN = 10
_CONFLUENT_HEADER_LEN = 5

EventT = TypeVar("EventT", IntegrationRequest, IntegrationResult, DeadLetter)


def _fields(schema: StoredSchema) -> dict[str, dict[str, Any]]:
    """A schema's fields by name, from its JSON (docs dropped, so only shapes compare)."""
    return {
        f["name"]: {k: v for k, v in f.items() if k != "doc"}
        for f in json.loads(schema.schema_json)["fields"]
    }


def _enum_subset(older: Any, newer: Any) -> frozenset[str] | None:
    """The older enum's symbols when both types are the same enum (same name, same definition
    apart from docs and symbols) and the older symbols are a subset of the newer; else None."""
    if not (isinstance(older, dict) and isinstance(newer, dict)):
        return None
    if older.get("type") != "enum" or newer.get("type") != "enum":
        return None
    rest = {k: v for k, v in older.items() if k not in ("doc", "symbols")}
    if rest != {k: v for k, v in newer.items() if k not in ("doc", "symbols")}:
        return None
    symbols = frozenset(older["symbols"])
    return symbols if symbols <= frozenset(newer["symbols"]) else None


@dataclass(frozen=True, slots=True)
class _Older:
    """An older version that can write a datum in the writer's place: when the datum leaves
    ``defaults`` (the writer's fields it lacks) at their values and every field in ``symbols``
    (an enum with fewer symbols than the writer's) holds one of the older symbols."""

    schema: StoredSchema
    defaults: dict[str, Any]
    symbols: dict[str, frozenset[str]]

    def carries(self, datum: Mapping[str, Any]) -> bool:
        return all(
            datum.get(name, default) == default for name, default in self.defaults.items()
        ) and all(
            isinstance(value := datum.get(name), str) and value in symbols
            for name, symbols in self.symbols.items()
        )


def _stand_in(older: StoredSchema, newer: StoredSchema) -> _Older | None:
    """``older`` as a stand-in for ``newer``: every field it has is in ``newer`` with the same
    type, or with an enum type that differs only in docs and added symbols, and every field it
    lacks has a default. Else None."""
    fields, theirs = _fields(newer), _fields(older)
    symbols: dict[str, frozenset[str]] = {}
    for name, f in theirs.items():
        ours = fields.get(name, {}).get("type")
        if ours == f["type"]:
            continue
        subset = _enum_subset(f["type"], ours)
        if subset is None:
            return None
        symbols[name] = subset
    added = {name: f for name, f in fields.items() if name not in theirs}
    if not all("default" in f for f in added.values()):
        return None
    return _Older(older, {name: f["default"] for name, f in added.items()}, symbols)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read one (record type, header) pair; cached, so built once per writer schema."""

    writer: Any
    reader: Any  # None when fastavro can skip resolution (the writer is the reader, or fill)
    offset: int
    label: str
    fill: Mapping[str, None] | None = None
    """Set when the writer stands in for the reader (:func:`_stand_in`) and every field it lacks
    defaults to null: read with the writer alone, then add those fields, twice as fast as
    fastavro's schema resolution and with the same datum."""


class AvroCodec:
    """Encode and decode the events, with single-object or Confluent framing.

    ``store`` holds the known schema versions (default: the bundled ones). ``write_versions`` and
    ``read_versions`` pin a record type to an older version (default: the latest), which is how a
    new version is rolled out in two steps (see :mod:`schemas.store`). ``registry`` switches
    writing to Confluent framing and lets :meth:`decode_async` fetch unknown ids.
    """

    def __init__(
        self,
        store: SchemaStore | None = None,
        *,
        registry: SchemaRegistryClient | None = None,
        write_versions: Mapping[str, int] | None = None,
        read_versions: Mapping[str, int] | None = None,
    ) -> None:
        self._store = store if store is not None else SchemaStore.bundled()
        self._registry = registry
        write_versions = write_versions or {}
        read_versions = read_versions or {}
        types = self._store.record_types()
        unknown = sorted({*write_versions, *read_versions} - set(types))
        if unknown:
            raise ValueError(f"version pins for unknown record types {unknown} (known: {types})")
        self._writers = {t: self._store.get(t, write_versions.get(t)) for t in types}
        # Without a registry, a datum that leaves a newer version's added fields at their
        # defaults and uses no added enum symbol is written with the oldest version that has
        # everything else: readers that do not bundle the new version yet (a rolling upgrade)
        # still read it.
        self._older: dict[str, list[_Older]] = (
            {} if registry is not None else {t: self._older_writers(t) for t in types}
        )
        self._readers = {t: self._store.get(t, read_versions.get(t)) for t in types}
        # With a registry, a record type gets its header in prepare(); encoding before that fails.
        self._headers: dict[str, bytes] = (
            {} if registry is not None else {t: s.header for t, s in self._writers.items()}
        )
        self._registry_schemas: dict[int, StoredSchema] = {}
        self._plans: dict[tuple[str, bytes], _Plan] = {}

    def writer_schema(self, record_type: str) -> StoredSchema:
        """The schema this codec writes ``record_type`` with."""
        try:
            return self._writers[record_type]
        except KeyError:
            raise KeyError(f"unknown record type {record_type!r}") from None

    def _older_writers(self, record_type: str) -> list[_Older]:
        """Older versions that can stand in for the writer, oldest first. A version qualifies
        when every field it has is in the writer with the same type, or with an enum type that
        differs only in docs and added symbols, and every field it lacks has a default."""
        writer = self.writer_schema(record_type)
        older = []
        for schema in self._store:
            if schema.record_type != record_type or schema.version >= writer.version:
                continue
            stand_in = _stand_in(schema, writer)
            if stand_in is not None:
                older.append(stand_in)
        return older

    def reader_schema(self, record_type: str) -> StoredSchema:
        """The schema this codec resolves ``record_type`` records to."""
        try:
            return self._readers[record_type]
        except KeyError:
            raise KeyError(f"unknown record type {record_type!r}") from None

    async def prepare(self, topics: Mapping[str, str], *, auto_register: bool = True) -> None:
        """Register (or, with ``auto_register=False``, look up) each topic's value schema.

        ``topics`` maps a topic name to the record type written to it; the subject is
        ``<topic>-value`` (Confluent's TopicNameStrategy). Without a registry this does nothing.
        """
        if self._registry is None:
            return
        for topic, record_type in topics.items():
            writer = self.writer_schema(record_type)
            subject = f"{topic}-value"
            if auto_register:
                schema_id = await self._registry.register(subject, writer.schema_json)
            else:
                schema_id = await self._registry.lookup(subject, writer.schema_json)
            # The registry gives one schema the same id under every subject; any id is valid
            # for any reader of this registry, so the first one is used for writing.
            self._headers.setdefault(record_type, CONFLUENT_MAGIC + schema_id.to_bytes(4, "big"))
            self._registry_schemas.setdefault(schema_id, writer)

    # -- typed events ---------------------------------------------------------------------------

    def encode(self, event: AnyEvent) -> bytes:
        """The framed Avro bytes of an event."""
        return self.encode_datum(event.RECORD_TYPE, event.to_avro())

    def decode(self, event_type: type[EventT], data: bytes) -> EventT:
        """Decode ``data`` as ``event_type``; never does I/O (see :meth:`decode_async`)."""
        return self._to_event(event_type, self.decode_datum(event_type.RECORD_TYPE, data), data)

    async def decode_async(self, event_type: type[EventT], data: bytes) -> EventT:
        """Like :meth:`decode`, but fetches an unknown Confluent schema id from the registry."""
        datum = await self.decode_datum_async(event_type.RECORD_TYPE, data)
        return self._to_event(event_type, datum, data)

    def decode_request(self, data: bytes) -> IntegrationRequest:
        """Decode an :class:`IntegrationRequest`."""
        return self.decode(IntegrationRequest, data)

    def decode_result(self, data: bytes) -> IntegrationResult:
        """Decode an :class:`IntegrationResult`."""
        return self.decode(IntegrationResult, data)

    def decode_dead_letter(self, data: bytes) -> DeadLetter:
        """Decode a :class:`DeadLetter`."""
        return self.decode(DeadLetter, data)

    # -- Avro datums ----------------------------------------------------------------------------

    def encode_datum(self, record_type: str, datum: Mapping[str, Any]) -> bytes:
        """Frame and encode a dict with the writer schema of ``record_type`` (or, without a
        registry, the oldest compatible version that carries ``datum``: it leaves the fields
        that version lacks at their defaults and uses none of the enum symbols it lacks)."""
        writer = self.writer_schema(record_type)
        header = self._headers.get(record_type)
        for older in self._older.get(record_type, ()):
            if older.carries(datum):
                writer, header = older.schema, older.schema.header
                break
        if header is None:
            raise SchemaEncodeError(
                f"{record_type} has no schema registry id yet: call "
                f"`await codec.prepare({{topic: {record_type!r}}})` at start-up"
            )
        buffer = BytesIO()
        buffer.write(header)
        try:
            schemaless_writer(buffer, writer.parsed, datum)
        except Exception as exc:  # fastavro raises ValueError, TypeError, AttributeError, …
            raise SchemaEncodeError(
                f"cannot encode {writer.label}: {type(exc).__name__}: {exc}"
            ) from exc
        return buffer.getvalue()

    def decode_datum(self, record_type: str, data: bytes) -> dict[str, Any]:
        """Decode framed bytes into a dict shaped by the reader schema of ``record_type``."""
        if not data:
            raise SchemaDecodeError(f"empty record value where a {record_type} was expected", b"")
        if data[0] == _SINGLE_OBJECT_FIRST:
            header = data[:_SINGLE_OBJECT_HEADER_LEN]
        else:
            header = data[:_CONFLUENT_HEADER_LEN]
        plan = self._plans.get((record_type, header))
        if plan is None:
            plan = self._plan(record_type, header, data)
        buffer = BytesIO(data)
        buffer.seek(plan.offset)
        try:
            datum = schemaless_reader(buffer, plan.writer, plan.reader)
        except EOFError as exc:
            raise SchemaDecodeError(f"truncated {plan.label} body: {exc}", data) from exc
        except Exception as exc:  # any failure inside fastavro means these bytes are not the record
            raise SchemaDecodeError(
                f"{plan.label} body does not decode: {type(exc).__name__}: {exc}", data
            ) from exc
        left = len(data) - buffer.tell()
        if left:
            raise SchemaDecodeError(
                f"{left} bytes left after a {plan.label} record: the body was written with "
                "another schema than its header names",
                data,
            )
        if not isinstance(datum, dict):  # cannot happen with record schemas; keeps mypy honest
            raise SchemaDecodeError(f"{plan.label} did not decode to a record", data)
        if plan.fill:
            datum.update(plan.fill)
        return datum

    async def decode_datum_async(self, record_type: str, data: bytes) -> dict[str, Any]:
        """Like :meth:`decode_datum`, fetching an unknown Confluent schema id from the registry."""
        try:
            return self.decode_datum(record_type, data)
        except UnknownSchemaError as exc:
            if exc.schema_id is None or self._registry is None:
                raise
            await self._learn_schema_id(self._registry, exc.schema_id, data)
        return self.decode_datum(record_type, data)

    # -- internals ------------------------------------------------------------------------------

    def _plan(self, record_type: str, header: bytes, data: bytes) -> _Plan:
        reader = self.reader_schema(record_type)
        writer: StoredSchema | None
        if header[0] == _SINGLE_OBJECT_FIRST:
            if len(header) < 2 or header[1] != 0x01:
                raise SchemaDecodeError("bad magic: C3 not followed by 01", data)
            if len(header) < _SINGLE_OBJECT_HEADER_LEN:
                raise SchemaDecodeError("truncated single-object header", data)
            fingerprint = header[2:]
            writer = self._store.by_fingerprint(fingerprint)
            if writer is None:
                raise UnknownSchemaError(
                    f"unknown writer schema fingerprint {fingerprint.hex()} for a {record_type}: "
                    "not one of the bundled .avsc versions (a newer producer? deploy its schema)",
                    data,
                    fingerprint=fingerprint,
                )
        elif header[0] == CONFLUENT_MAGIC[0]:
            if len(header) < _CONFLUENT_HEADER_LEN:
                raise SchemaDecodeError("truncated Confluent header", data)
            schema_id = int.from_bytes(header[1:], "big")
            writer = self._registry_schemas.get(schema_id)
            if writer is None:
                hint = (
                    "use decode_async to fetch it"
                    if self._registry is not None
                    else "no schema registry is configured"
                )
                raise UnknownSchemaError(
                    f"unknown schema registry id {schema_id} for a {record_type}: {hint}",
                    data,
                    schema_id=schema_id,
                )
        else:
            raise SchemaDecodeError(
                f"bad magic byte {header[0]:#04x}: neither Avro single-object (C3 01) "
                "nor Confluent (00) framing",
                data,
            )
        if writer.full_name != reader.full_name:
            raise SchemaDecodeError(
                f"the record is a {writer.full_name} ({writer.label}), "
                f"expected a {reader.full_name}",
                data,
            )
        stand_in = None if writer is reader else _stand_in(writer, reader)
        fill = None
        if stand_in is not None and all(v is None for v in stand_in.defaults.values()):
            fill = dict.fromkeys(stand_in.defaults)
        plan = _Plan(
            writer=writer.parsed,
            reader=None if writer is reader or fill is not None else reader.parsed,
            offset=len(header),
            label=writer.label,
            fill=fill,
        )
        self._plans[(record_type, header)] = plan
        return plan

    async def _learn_schema_id(
        self, registry: SchemaRegistryClient, schema_id: int, data: bytes
    ) -> None:
        try:
            text = await registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.status == 404:
                raise UnknownSchemaError(
                    f"the schema registry has no schema id {schema_id}", data, schema_id=schema_id
                ) from exc
            raise
        label = f"schema registry id {schema_id}"
        try:
            fetched = StoredSchema.from_json("registry", 0, text, label=label)
        except ValueError as exc:
            raise SchemaDecodeError(
                f"{label} is not a usable Avro record schema: {exc}", data
            ) from exc
        # A registry copy of a bundled schema reads through the bundled object (no resolution).
        self._registry_schemas[schema_id] = (
            self._store.by_fingerprint(fetched.fingerprint) or fetched
        )

    def _to_event(self, event_type: type[EventT], datum: dict[str, Any], data: bytes) -> EventT:
        try:
            return event_type.from_avro(datum)
        except (KeyError, ValueError, TypeError) as exc:
            raise SchemaDecodeError(
                f"decoded {event_type.RECORD_TYPE} does not fit {event_type.__name__}: "
                f"{type(exc).__name__}: {exc}",
                data,
            ) from exc
