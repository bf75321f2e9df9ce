"""Round trips, framing and the schema store."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    AnyEvent,
    AvroCodec,
    DeadLetter,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    SchemaEncodeError,
    SchemaStore,
    StoredSchema,
)
from schemas.fingerprint import canonical_form, fingerprint64


def test_every_event_round_trips(all_events: list[AnyEvent]) -> None:
    codec = AvroCodec()
    for event in all_events:
        data = codec.encode(event)
        assert codec.decode(type(event), data) == event


def test_typed_helpers_and_minimal_events(request_event: IntegrationRequest) -> None:
    codec = AvroCodec()
    minimal = IntegrationRequest.new(bot_id="b", integration_id="i", config={})
    assert codec.decode_request(codec.encode(minimal)) == minimal
    assert minimal.attempt == 1
    assert minimal.deadline is None
    assert minimal.created_at.microsecond % 1000 == 0  # exact round trip at millisecond precision
    assert codec.decode_request(codec.encode(request_event)).config_dict() == {
        "chat_id": "12345",
        "text": "Привет, мир",
    }


def test_result_and_dead_letter_helpers(
    result_event: IntegrationResult, dead_letter_event: DeadLetter
) -> None:
    codec = AvroCodec()
    decoded = codec.decode_result(codec.encode(result_event))
    assert decoded.status is ResultStatus.FAILED
    assert decoded.error is not None
    assert decoded.error.retry_after_ms == 3000
    assert decoded.envelope().error_code == 429
    letter = codec.decode_dead_letter(codec.encode(dead_letter_event))
    assert letter.headers == (("traceparent", b"00-abc-def-01"), ("empty", None))
    assert letter.original == dead_letter_event.original


def test_single_object_header_is_magic_plus_spec_fingerprint(
    request_event: IntegrationRequest,
) -> None:
    codec = AvroCodec()
    data = codec.encode(replace(request_event, ordering_key="chat-1"))  # written with v2
    schema = codec.writer_schema("integration_request")
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == schema.fingerprint
    assert schema.fingerprint == fingerprint64(canonical_form(json.loads(schema.schema_json)))


def test_known_fingerprint_vector() -> None:
    # From the Avro spec's test data: "int" has the Java fingerprint 0x7275d51a3f395c8f,
    # which single-object encoding writes little-endian.
    assert fingerprint64('"int"') == bytes.fromhex("8f5c393f1ad57572")
    assert int.from_bytes(fingerprint64('"int"'), "little") == 0x7275D51A3F395C8F


def test_encoding_a_datum_that_does_not_fit_raises() -> None:
    codec = AvroCodec()
    with pytest.raises(SchemaEncodeError, match=r"integration_request\.v1"):
        codec.encode_datum("integration_request", {"bot_id": "only this"})
    with pytest.raises(KeyError, match="unknown record type 'nope'"):
        codec.encode_datum("nope", {})


def test_naive_datetimes_are_refused(request_event: IntegrationRequest) -> None:
    naive = request_event.created_at.replace(tzinfo=None)
    with pytest.raises(
        ValueError, match=r"IntegrationRequest\.created_at must be a timezone-aware"
    ):
        dataclasses.replace(request_event, created_at=naive)


@pytest.mark.parametrize("event_type", [IntegrationRequest, IntegrationResult, DeadLetter])
def test_models_mirror_the_latest_schema(event_type: type[AnyEvent]) -> None:
    schema = SchemaStore.bundled().get(event_type.RECORD_TYPE)
    avro_fields = [f["name"] for f in json.loads(schema.schema_json)["fields"]]
    assert sorted(avro_fields) == sorted(f.name for f in dataclasses.fields(event_type))


def test_status_enum_matches_schema() -> None:
    schema = json.loads(SchemaStore.bundled().get("integration_result").schema_json)
    status = next(f for f in schema["fields"] if f["name"] == "status")["type"]
    assert status["symbols"] == [s.value for s in ResultStatus]
    assert status["default"] == "OUTCOME_UNKNOWN"


def _all_fields(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, list):
        return [f for branch in schema for f in _all_fields(branch)]
    if not isinstance(schema, dict):
        return []
    found: list[dict[str, Any]] = []
    for f in schema.get("fields", []):
        found += [f, *_all_fields(f["type"])]
    return found + _all_fields(schema.get("items"))


def test_bundled_schemas_document_every_field_and_default_every_optional() -> None:
    store = SchemaStore.bundled()
    assert store.record_types() == ["dead_letter", "integration_request", "integration_result"]
    for schema in store:
        raw = json.loads(schema.schema_json)
        assert raw["namespace"] == "io.actionstream"
        for f in _all_fields(raw):
            assert f.get("doc"), f"{schema.label}: field {f['name']} has no doc"
            if isinstance(f["type"], list) and "null" in f["type"]:
                assert f["type"][0] == "null"
                assert "default" in f
                assert f["default"] is None, f"{schema.label}: {f['name']} needs a null default"


def test_store_rejects_badly_named_files_and_renamed_records(tmp_path: Path) -> None:
    (tmp_path / "request.avsc").write_text('{"type": "record", "name": "R", "fields": []}')
    with pytest.raises(ValueError, match=r"must be named <record_type>\.v<N>\.avsc"):
        SchemaStore.from_directory(tmp_path)
    v1 = StoredSchema.from_json("thing", 1, '{"type": "record", "name": "A", "fields": []}')
    v2 = StoredSchema.from_json("thing", 2, '{"type": "record", "name": "B", "fields": []}')
    with pytest.raises(ValueError, match="must keep the record's name"):
        SchemaStore([v1, v2])
    with pytest.raises(ValueError, match=r"thing\.v3: not a valid Avro schema"):
        StoredSchema.from_json("thing", 3, '{"type": "record", "name": "A", "fields": [{}]}')


def test_store_from_directory_and_doc_only_versions(tmp_path: Path) -> None:
    bundled = Path(__import__("schemas").__file__).parent
    store = SchemaStore.from_directory(bundled)
    assert [s.label for s in store] == [s.label for s in SchemaStore.bundled()]
    # A version that changes only docs shares the fingerprint; the earliest version answers.
    text = json.loads(store.get("dead_letter").schema_json)
    text["doc"] = "reworded"
    v2 = StoredSchema.from_json("dead_letter", 2, json.dumps(text))
    both = store.with_schemas(v2)
    assert v2.fingerprint == store.get("dead_letter", 1).fingerprint
    assert both.by_fingerprint(v2.fingerprint) is both.get("dead_letter", 1)
    assert both.get("dead_letter") is v2
    with pytest.raises(KeyError, match=r"no dead_letter\.v9 schema \(known: v1, v2\)"):
        both.get("dead_letter", 9)


def test_version_pins_must_name_known_record_types() -> None:
    with pytest.raises(ValueError, match=r"unknown record types \['integration_requests'\]"):
        AvroCodec(write_versions={"integration_requests": 1})
    with pytest.raises(KeyError, match=r"no integration_request\.v9 schema"):
        AvroCodec(read_versions={"integration_request": 9})
