"""Schema evolution through the codec's store: old data with the new schema, new data with the old.

The bundled request v2 adds ``ordering_key``. The fixtures (tests/schemas/fixtures) are the next
versions: request v3 adds two more defaulted fields, result v2 a field and a status symbol, as a
compatible release would. Without a registry a writer uses the oldest version that carries the
datum, so a request without an ordering key stays readable by a release that knows only v1.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from schemas import (
    AvroCodec,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    SchemaStore,
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
    datum = {**result_event.to_avro(), "status": "CANCELLED", "region": "us"}
    data = new_writer.encode_datum("integration_result", datum)
    old_reader = AvroCodec(store_with_next, read_versions={"integration_result": 1})
    decoded = old_reader.decode(IntegrationResult, data)
    assert decoded.status is ResultStatus.OUTCOME_UNKNOWN
    assert decoded.response == result_event.response
    # and v1 results read with v2 get the new field's default
    v2_datum = new_writer.decode_datum("integration_result", AvroCodec().encode(result_event))
    assert v2_datum["region"] == "eu"
    assert v2_datum["status"] == "FAILED"


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
