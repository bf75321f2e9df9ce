"""Interoperability with the Apache ``avro`` reference library.

``avro`` (1.12) has no single-object encoder, so the frame is built by hand around its
``DatumWriter`` body, with the fingerprint computed by its own CRC-64-AVRO code.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import avro.io
import avro.schema
import pytest
from avro.schema import _crc_64_fingerprint

from schemas import (
    AnyEvent,
    AvroCodec,
    IntegrationRequest,
    SchemaStore,
)
from schemas.fingerprint import apache_python_canonical_form, canonical_form


def _avro_datum(event: AnyEvent) -> dict[str, Any]:
    # avro wants the uuid logical type as text; everything else is the same datum.
    datum = event.to_avro()
    if isinstance(datum.get("request_id"), uuid.UUID):
        datum["request_id"] = str(datum["request_id"])
    return datum


def _avro_body(schema: avro.schema.Schema, datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buffer))
    return buffer.getvalue()


def _avro_read(schema: avro.schema.Schema, body: bytes) -> Any:
    return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(body)))


@pytest.mark.parametrize("index", [0, 1, 2], ids=["request", "result", "dead_letter"])
def test_avro_writes_we_read(all_events: list[AnyEvent], index: int) -> None:
    event = all_events[index]
    ours = AvroCodec().writer_schema(event.RECORD_TYPE)
    schema = avro.schema.parse(ours.schema_json)
    # The spec's canonical form, fingerprinted by avro's own CRC-64-AVRO implementation.
    fingerprint = _crc_64_fingerprint(canonical_form(json.loads(ours.schema_json)).encode())
    data = b"\xc3\x01" + fingerprint + _avro_body(schema, _avro_datum(event))
    assert data == AvroCodec().encode(event)  # byte for byte the same record
    assert AvroCodec().decode(type(event), data) == event


@pytest.mark.parametrize("index", [0, 1, 2], ids=["request", "result", "dead_letter"])
def test_avro_python_fingerprint_is_accepted(all_events: list[AnyEvent], index: int) -> None:
    # avro's schema.fingerprint() keeps {"type":"long"} for logical types (unlike the spec and
    # Java); a producer using it must still be readable.
    event = all_events[index]
    ours = AvroCodec().writer_schema(event.RECORD_TYPE)
    schema = avro.schema.parse(ours.schema_json)
    assert schema.canonical_form == apache_python_canonical_form(json.loads(ours.schema_json))
    assert schema.fingerprint() == ours.legacy_fingerprint != ours.fingerprint
    data = b"\xc3\x01" + schema.fingerprint() + _avro_body(schema, _avro_datum(event))
    assert AvroCodec().decode(type(event), data) == event


@pytest.mark.parametrize("index", [0, 1, 2], ids=["request", "result", "dead_letter"])
def test_we_write_avro_reads(all_events: list[AnyEvent], index: int) -> None:
    event = all_events[index]
    data = AvroCodec().encode(event)
    ours = SchemaStore.bundled().get(event.RECORD_TYPE)
    schema = avro.schema.parse(ours.schema_json)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == _crc_64_fingerprint(canonical_form(json.loads(ours.schema_json)).encode())
    decoded = _avro_read(schema, data[10:])
    expected = _avro_datum(event)
    for key, value in expected.items():
        if hasattr(value, "timestamp"):  # avro uses its own UTC tzinfo: compare instants
            assert decoded[key].timestamp() == value.timestamp(), key
        else:
            assert decoded[key] == value, key


def test_avro_reads_our_bytes_with_an_older_reader_schema(
    store_with_next: SchemaStore, request_event: IntegrationRequest
) -> None:
    # A v3 writer (ours) and a v1 reader (avro's resolution): forward compatibility both ways.
    data = AvroCodec(store_with_next).encode_datum(
        "integration_request", {**request_event.to_avro(), "priority": 7, "tags": ["a"]}
    )
    v1 = avro.schema.parse(store_with_next.get("integration_request", 1).schema_json)
    v3 = avro.schema.parse(store_with_next.get("integration_request", 3).schema_json)
    reader = avro.io.DatumReader(v3, v1)
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert decoded["request_id"] == str(request_event.request_id)
    assert "priority" not in decoded
