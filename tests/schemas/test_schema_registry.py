"""Confluent framing against a fake Schema Registry served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import fastavro
import pytest

from schemas import (
    AvroCodec,
    IntegrationRequest,
    IntegrationResult,
    SchemaEncodeError,
    SchemaRegistryClient,
    SchemaRegistryError,
    StoredSchema,
    UnknownSchemaError,
)

if TYPE_CHECKING:
    from tests.schemas.conftest import FakeSchemaRegistry

TOPICS = {
    "integration.requests": "integration_request",
    "integration.retry.5s": "integration_request",
    "integration.results": "integration_result",
    "integration.dlq": "dead_letter",
}


@pytest.fixture
async def registry(fake_registry: FakeSchemaRegistry) -> AsyncIterator[SchemaRegistryClient]:
    async with SchemaRegistryClient(fake_registry.url, timeout_s=2.0) as client:
        yield client


async def test_prepare_registers_subjects_and_encode_writes_confluent_frames(
    fake_registry: FakeSchemaRegistry,
    registry: SchemaRegistryClient,
    request_event: IntegrationRequest,
    result_event: IntegrationResult,
) -> None:
    codec = AvroCodec(registry=registry)
    await codec.prepare(TOPICS)
    assert sorted(fake_registry.subjects) == sorted(f"{t}-value" for t in TOPICS)
    # One schema, one global id, even under two subjects.
    assert (
        fake_registry.subjects["integration.requests-value"]
        == (fake_registry.subjects["integration.retry.5s-value"])
    )
    request_id = fake_registry.subjects["integration.requests-value"][0]

    data = codec.encode(request_event)
    assert data[:5] == b"\x00" + request_id.to_bytes(4, "big")
    calls = sum(fake_registry.calls.values())
    for _ in range(100):  # the hot path never asks the registry again
        assert codec.decode(IntegrationRequest, codec.encode(request_event)) == request_event
        assert codec.decode(IntegrationResult, codec.encode(result_event)) == result_event
    assert sum(fake_registry.calls.values()) == calls

    # A consumer with its own client fetches the id once, then decodes without I/O.
    async with SchemaRegistryClient(fake_registry.url) as other_client:
        consumer = AvroCodec(registry=other_client)
        with pytest.raises(UnknownSchemaError, match="use decode_async"):
            consumer.decode(IntegrationRequest, data)
        assert await consumer.decode_async(IntegrationRequest, data) == request_event
        assert consumer.decode(IntegrationRequest, data) == request_event
        assert fake_registry.calls["get_schema"] == 1

    # Without any registry configured, the Confluent frame is still read once the id is known
    # by its bundled twin; an unknown id is a typed error.
    with pytest.raises(UnknownSchemaError, match="no schema registry is configured"):
        AvroCodec().decode(IntegrationRequest, data)


async def test_prepare_is_idempotent_across_restarts(
    fake_registry: FakeSchemaRegistry, request_event: IntegrationRequest
) -> None:
    frames = []
    for _ in range(2):
        async with SchemaRegistryClient(fake_registry.url) as client:
            codec = AvroCodec(registry=client)
            await codec.prepare(TOPICS)
            frames.append(codec.encode(request_event))
    assert frames[0] == frames[1]
    assert len(fake_registry.schemas) == 3


async def test_encode_before_prepare_is_refused(
    registry: SchemaRegistryClient, request_event: IntegrationRequest
) -> None:
    codec = AvroCodec(registry=registry)
    with pytest.raises(SchemaEncodeError, match=r"await codec\.prepare"):
        codec.encode(request_event)


async def test_foreign_newer_schema_resolves_to_ours(
    fake_registry: FakeSchemaRegistry,
    registry: SchemaRegistryClient,
    request_event: IntegrationRequest,
    request_next: StoredSchema,
) -> None:
    # Another producer registered v3 (not bundled here) and writes with it.
    v2 = request_next
    v2_id = fake_registry.register("integration.requests-value", v2.schema_json)
    body = io.BytesIO()
    datum = {**request_event.to_avro(), "priority": 3, "tags": ["vip"]}
    fastavro.schemaless_writer(body, fastavro.parse_schema(json.loads(v2.schema_json)), datum)
    data = b"\x00" + v2_id.to_bytes(4, "big") + body.getvalue()

    codec = AvroCodec(registry=registry)
    decoded = await asyncio.gather(
        *(codec.decode_async(IntegrationRequest, data) for _ in range(20))
    )
    assert all(d == request_event for d in decoded)
    assert fake_registry.calls["get_schema"] == 1  # twenty concurrent decodes, one fetch


async def test_unknown_id_is_a_typed_error(registry: SchemaRegistryClient) -> None:
    codec = AvroCodec(registry=registry)
    data = b"\x00\x00\x00\x03\xe7" + b"\x02" * 30
    with pytest.raises(UnknownSchemaError, match="has no schema id 999") as caught:
        await codec.decode_async(IntegrationRequest, data)
    assert caught.value.schema_id == 999
    assert caught.value.raw == data


async def test_lookup_without_auto_register(
    fake_registry: FakeSchemaRegistry, registry: SchemaRegistryClient
) -> None:
    codec = AvroCodec(registry=registry)
    with pytest.raises(SchemaRegistryError, match="error 40401") as caught:
        await codec.prepare({"integration.results": "integration_result"}, auto_register=False)
    assert caught.value.status == 404
    assert caught.value.error_code == 40401
    assert not caught.value.retryable

    await codec.prepare({"integration.results": "integration_result"})
    fake_registry.calls.clear()
    async with SchemaRegistryClient(fake_registry.url) as client:
        reader_only = AvroCodec(registry=client)
        await reader_only.prepare(
            {"integration.results": "integration_result"}, auto_register=False
        )
    assert fake_registry.calls == {"lookup": 1}


async def test_unreachable_registry_is_retryable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with SchemaRegistryClient(
        f"http://user:secret@127.0.0.1:{port}", timeout_s=1.0
    ) as client:
        with pytest.raises(SchemaRegistryError, match="unreachable") as caught:
            await client.get_schema(1)
    assert caught.value.retryable
    assert caught.value.status is None
    assert "secret" not in str(caught.value)
