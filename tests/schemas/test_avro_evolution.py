"""Schema evolution through the codec's store: old data with the new schema, new data with the old.

The v2 fixtures (tests/schemas/fixtures) add defaulted fields, and v2 of the result adds a status
symbol, as a compatible release would.
"""

from __future__ import annotations

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
    store_with_v2: SchemaStore, request_event: IntegrationRequest
) -> None:
    old_writer = AvroCodec()  # bundled v1 only
    new_reader = AvroCodec(store_with_v2)
    datum = new_reader.decode_datum("integration_request", old_writer.encode(request_event))
    assert datum["priority"] == 0
    assert datum["tags"] == []
    assert datum["request_id"] == request_event.request_id
    assert datum["deadline"] == request_event.deadline


def test_old_reader_reads_new_data(
    store_with_v2: SchemaStore, request_event: IntegrationRequest
) -> None:
    new_writer = AvroCodec(store_with_v2)
    assert new_writer.writer_schema("integration_request").version == 2
    data = new_writer.encode_datum(
        "integration_request", {**request_event.to_avro(), "priority": 9, "tags": ["x", "y"]}
    )
    assert data[2:10] == store_with_v2.get("integration_request", 2).fingerprint
    # An old release that already bundles v2 but still reads (and models) v1.
    old_reader = AvroCodec(store_with_v2, read_versions={"integration_request": 1})
    assert old_reader.decode(IntegrationRequest, data) == request_event


def test_unknown_status_symbol_reads_as_outcome_unknown(
    store_with_v2: SchemaStore, result_event: IntegrationResult
) -> None:
    new_writer = AvroCodec(store_with_v2)
    datum = {**result_event.to_avro(), "status": "CANCELLED", "region": "us"}
    data = new_writer.encode_datum("integration_result", datum)
    old_reader = AvroCodec(store_with_v2, read_versions={"integration_result": 1})
    decoded = old_reader.decode(IntegrationResult, data)
    assert decoded.status is ResultStatus.OUTCOME_UNKNOWN
    assert decoded.response == result_event.response
    # and v1 results read with v2 get the new field's default
    v2_datum = new_writer.decode_datum("integration_result", AvroCodec().encode(result_event))
    assert v2_datum["region"] == "eu"
    assert v2_datum["status"] == "FAILED"


def test_pinned_writer_version_for_two_step_rollout(
    store_with_v2: SchemaStore, request_event: IntegrationRequest
) -> None:
    # Release N+1 bundles v2 but keeps writing v1, so readers still on release N can read it.
    pinned = AvroCodec(store_with_v2, write_versions={"integration_request": 1})
    data = pinned.encode(request_event)
    assert data[2:10] == store_with_v2.get("integration_request", 1).fingerprint
    assert AvroCodec().decode(IntegrationRequest, data) == request_event


def test_reader_without_the_new_version_gets_unknown_schema(
    store_with_v2: SchemaStore, request_event: IntegrationRequest
) -> None:
    data = AvroCodec(store_with_v2).encode(request_event)
    fingerprint = store_with_v2.get("integration_request", 2).fingerprint
    with pytest.raises(UnknownSchemaError, match=fingerprint.hex()) as caught:
        AvroCodec().decode(IntegrationRequest, data)
    assert caught.value.fingerprint == fingerprint
    assert caught.value.raw == data
