"""Schema evolution through the codec's store: old data with the new schema, new data with the old.

The bundled request v2 adds ``ordering_key``, result v2 the CANCELLED status. The fixtures
(tests/schemas/fixtures) are the next versions: request v3 adds two more defaulted fields, result
v3 a field and a status symbol, as a compatible release would. Without a registry a writer uses
the oldest version that carries the datum, so a request without an ordering key, or a result that
is not CANCELLED, stays readable by a release that knows only v1.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import fastavro
import pytest

from schemas import (
    AvroCodec,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    SchemaEncodeError,
    SchemaStore,
    StoredSchema,
    UnknownSchemaError,
)


def test_new_reader_reads_old_data(
    store_with_next: SchemaStore, request_event: IntegrationRequest
) -> None:
    old_writer = AvroCodec(SchemaStore.bundled(), write_versions={"integration_request": 1})
    new_reader = AvroCodec(store_with_next)
    datum = new_reader.decode_datum("integration_request", old_writer.encode(request_event))
    assert datum["priority"] == 0
    assert datum["tags"] == []
    assert datum["request_id"] == request_event.request_id
    assert datum["deadline"] == request_event.deadline


def test_old_reader_reads_new_data(
    store_with_next: SchemaStore, request_event: IntegrationRequest
) -> None:
    new_writer = AvroCodec(store_with_next)
    assert new_writer.writer_schema("integration_request").version == 3
    data = new_writer.encode_datum(
        "integration_request", {**request_event.to_avro(), "priority": 9, "tags": ["x", "y"]}
    )
    assert data[2:10] == store_with_next.get("integration_request", 3).fingerprint
    # An old release that already bundles v2 but still reads (and models) v1.
    old_reader = AvroCodec(store_with_next, read_versions={"integration_request": 1})
    assert old_reader.decode(IntegrationRequest, data) == request_event


def test_unknown_status_symbol_reads_as_outcome_unknown(
    store_with_next: SchemaStore, result_event: IntegrationResult
) -> None:
    new_writer = AvroCodec(store_with_next)
    datum = {**result_event.to_avro(), "status": "SKIPPED", "region": "us"}
    data = new_writer.encode_datum("integration_result", datum)
    old_reader = AvroCodec(store_with_next, read_versions={"integration_result": 1})
    decoded = old_reader.decode(IntegrationResult, data)
    assert decoded.status is ResultStatus.OUTCOME_UNKNOWN
    assert decoded.response == result_event.response
    assert data[2:10] == store_with_next.get("integration_result", 3).fingerprint
    # and v1 results read with v3 get the new field's default
    v3_datum = new_writer.decode_datum("integration_result", AvroCodec().encode(result_event))
    assert v3_datum["region"] == "eu"
    assert v3_datum["status"] == "FAILED"


def test_pinned_writer_version_for_two_step_rollout(
    store_with_next: SchemaStore, request_event: IntegrationRequest
) -> None:
    # Release N+1 bundles v2 but keeps writing v1, so readers still on release N can read it.
    pinned = AvroCodec(store_with_next, write_versions={"integration_request": 1})
    data = pinned.encode(request_event)
    assert data[2:10] == store_with_next.get("integration_request", 1).fingerprint
    assert AvroCodec().decode(IntegrationRequest, data) == request_event


def test_reader_without_the_new_version_gets_unknown_schema(
    store_with_next: SchemaStore, request_event: IntegrationRequest
) -> None:
    data = AvroCodec(store_with_next).encode_datum(
        "integration_request", {**request_event.to_avro(), "priority": 9}
    )
    fingerprint = store_with_next.get("integration_request", 3).fingerprint
    with pytest.raises(UnknownSchemaError, match=fingerprint.hex()) as caught:
        AvroCodec().decode(IntegrationRequest, data)
    assert caught.value.fingerprint == fingerprint
    assert caught.value.raw == data


def v1_only() -> SchemaStore:
    """What a release before ordering keys bundles: request v1 (and the other v1s)."""
    return SchemaStore([s for s in SchemaStore.bundled() if s.version == 1])


def test_a_request_without_ordering_key_is_written_as_v1(request_event: IntegrationRequest) -> None:
    codec = AvroCodec()
    assert codec.writer_schema("integration_request").version == 2
    data = codec.encode(request_event)
    assert data[2:10] == SchemaStore.bundled().get("integration_request", 1).fingerprint
    # so a worker that knows only v1 reads it during a rolling upgrade
    assert AvroCodec(v1_only()).decode(IntegrationRequest, data) == request_event
    assert codec.decode(IntegrationRequest, data) == request_event


def test_ordering_key_goes_out_as_v2_and_old_and_new_readers_agree(
    request_event: IntegrationRequest,
) -> None:
    keyed = replace(request_event, ordering_key="chat-12345")
    data = AvroCodec().encode(keyed)
    assert data[2:10] == SchemaStore.bundled().get("integration_request", 2).fingerprint
    assert AvroCodec().decode(IntegrationRequest, data) == keyed
    # A release that bundles v2 but still reads v1 drops the key (and orders per bot).
    v1_reader = AvroCodec(read_versions={"integration_request": 1})
    assert v1_reader.decode_datum("integration_request", data).get("ordering_key") is None
    # One that knows only v1 cannot resolve the writer: it says which schema it lacks.
    fingerprint = SchemaStore.bundled().get("integration_request", 2).fingerprint
    with pytest.raises(UnknownSchemaError, match=fingerprint.hex()):
        AvroCodec(v1_only()).decode(IntegrationRequest, data)


def _result_fingerprint(version: int) -> bytes:
    return SchemaStore.bundled().get("integration_result", version).fingerprint


def without_result_v2() -> SchemaStore:
    """What a release before CANCELLED bundles: everything but result v2."""
    return SchemaStore(
        [
            s
            for s in SchemaStore.bundled()
            if (s.record_type, s.version) != ("integration_result", 2)
        ]
    )


def test_only_cancelled_results_are_written_as_v2(result_event: IntegrationResult) -> None:
    codec = AvroCodec()
    assert codec.writer_schema("integration_result").version == 2
    succeeded = replace(result_event, status=ResultStatus.SUCCEEDED, error=None)
    cancelled = replace(result_event, status=ResultStatus.CANCELLED, error=None, started_at=None)
    assert codec.encode(succeeded)[2:10] == _result_fingerprint(1)
    assert codec.encode(cancelled)[2:10] == _result_fingerprint(2)
    for status in ResultStatus:
        expected = 2 if status is ResultStatus.CANCELLED else 1
        data = codec.encode(replace(result_event, status=status))
        assert data[2:10] == _result_fingerprint(expected), status
    # the plain-string value picks the same version as the enum member
    datum = {**succeeded.to_avro(), "status": "SUCCEEDED"}
    assert codec.encode_datum("integration_result", datum)[2:10] == _result_fingerprint(1)


def test_default_codec_reads_both_versions(result_event: IntegrationResult) -> None:
    codec = AvroCodec()
    for status in (ResultStatus.SUCCEEDED, ResultStatus.CANCELLED):
        event = replace(result_event, status=status)
        decoded = codec.decode(IntegrationResult, codec.encode(event))
        assert decoded == event
        assert decoded.status is status


def test_v1_reader_reads_cancelled_as_outcome_unknown(result_event: IntegrationResult) -> None:
    writer = AvroCodec()
    v1_reader = AvroCodec(read_versions={"integration_result": 1})
    cancelled = replace(result_event, status=ResultStatus.CANCELLED)
    decoded = v1_reader.decode(IntegrationResult, writer.encode(cancelled))
    assert decoded.status is ResultStatus.OUTCOME_UNKNOWN  # the v1 enum's default
    assert decoded == replace(cancelled, status=ResultStatus.OUTCOME_UNKNOWN)
    for status in ResultStatus:
        if status is not ResultStatus.CANCELLED:
            event = replace(result_event, status=status)
            assert v1_reader.decode(IntegrationResult, writer.encode(event)) == event


def test_reader_without_result_v2_fails_on_cancelled_only(result_event: IntegrationResult) -> None:
    # Why a release ships result v2 before any producer writes CANCELLED.
    writer = AvroCodec()
    old_release = AvroCodec(without_result_v2())
    succeeded = replace(result_event, status=ResultStatus.SUCCEEDED, error=None)
    assert old_release.decode(IntegrationResult, writer.encode(succeeded)) == succeeded
    data = writer.encode(replace(result_event, status=ResultStatus.CANCELLED))
    with pytest.raises(UnknownSchemaError, match=_result_fingerprint(2).hex()) as caught:
        old_release.decode(IntegrationResult, data)
    assert caught.value.fingerprint == _result_fingerprint(2)


def test_writer_pinned_to_result_v1_cannot_write_cancelled(
    result_event: IntegrationResult,
) -> None:
    pinned = AvroCodec(write_versions={"integration_result": 1})
    succeeded = replace(result_event, status=ResultStatus.SUCCEEDED, error=None)
    assert pinned.encode(succeeded)[2:10] == _result_fingerprint(1)
    with pytest.raises(SchemaEncodeError, match=r"integration_result\.v1"):
        pinned.encode(replace(result_event, status=ResultStatus.CANCELLED))


def test_enum_stand_in_needs_the_same_enum(result_event: IntegrationResult) -> None:
    # An older version whose enum differs in more than docs and added symbols never stands in.
    v2 = SchemaStore.bundled().get("integration_result", 2)
    raw = json.loads(v2.schema_json)
    status = next(f for f in raw["fields"] if f["name"] == "status")
    status["type"]["default"] = "FAILED"
    status["type"]["symbols"].remove("CANCELLED")
    renamed = StoredSchema.from_json("integration_result", 1, json.dumps(raw))
    store = SchemaStore([renamed, v2])
    data = AvroCodec(store).encode(replace(result_event, status=ResultStatus.SUCCEEDED))
    assert data[2:10] == v2.fingerprint


@pytest.mark.parametrize("ordering_key", [None, "chat-7"])
def test_older_writers_read_as_fastavro_resolves_them(
    store_with_next: SchemaStore,
    request_event: IntegrationRequest,
    result_event: IntegrationResult,
    ordering_key: str | None,
) -> None:
    # Older data is read with its own schema and the reader's null-defaulted fields added
    # (a shortcut around schema resolution): every pair must give fastavro's resolved datum.
    request = replace(request_event, ordering_key=ordering_key)
    for record_type, event in (
        ("integration_request", request),
        ("integration_result", result_event),
    ):
        for store in (SchemaStore.bundled(), store_with_next):
            reader = AvroCodec(store)
            newest = reader.reader_schema(record_type)
            for older in store:
                if older.record_type != record_type or older.version > newest.version:
                    continue
                try:
                    data = AvroCodec(store, write_versions={record_type: older.version}).encode(
                        event
                    )
                except SchemaEncodeError:
                    continue  # this version cannot carry the event (e.g. an ordering key in v1)
                writer = store.by_fingerprint(data[2:10])  # the oldest that carries it
                assert writer is not None
                body = io.BytesIO(data[10:])
                expected = fastavro.schemaless_reader(body, writer.parsed, newest.parsed)
                assert reader.decode_datum(record_type, data) == expected
