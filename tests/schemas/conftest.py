"""Fixtures for the schemas tests: sample events, fixture schema versions, a fake Schema Registry.

The fake registry is a real aiohttp server on 127.0.0.1 that answers the three calls the client
makes the way Confluent's registry does (same paths, bodies, error codes and content type). It
lives here rather than in a helper module because tests run with ``--import-mode=importlib`` and
``tests/`` on ``sys.path``, where ``tests/schemas`` must not become an importable package.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from schemas import (
    DeadLetter,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResponseEnvelope,
    ResultStatus,
    SchemaStore,
    StoredSchema,
)

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2024, 5, 17, 12, 30, 45, 123000, tzinfo=UTC)


def _fixture_schema(record_type: str, version: int) -> StoredSchema:
    text = (FIXTURES / f"{record_type}.v{version}.avsc").read_text(encoding="utf-8")
    return StoredSchema.from_json(record_type, version, text)


@pytest.fixture
def request_next() -> StoredSchema:
    """integration_request.v3 from tests/schemas/fixtures: the bundled v2 plus two defaulted
    fields, as the next compatible release would add them."""
    return _fixture_schema("integration_request", 3)


@pytest.fixture
def store_with_next(request_next: StoredSchema) -> SchemaStore:
    """The bundled schemas plus the next versions from the fixtures: request v3, result v3."""
    return SchemaStore.bundled().with_schemas(
        request_next, _fixture_schema("integration_result", 3)
    )


@pytest.fixture
def request_event() -> IntegrationRequest:
    return IntegrationRequest(
        request_id=uuid.UUID("6f1c2a7e-3b9d-4c55-8e21-0a9f4d7b6c31"),
        bot_id="bot-42",
        integration_id="telegram_send_message",
        integration_version="1.0.0",
        config=json.dumps({"chat_id": "12345", "text": "Привет, мир"}, ensure_ascii=False),
        connection_group_id="cg-7",
        idempotency_key="idem-1",
        attempt=2,
        created_at=T0,
        deadline=T0 + timedelta(minutes=5),
        not_before=T0 + timedelta(seconds=30),
    )


@pytest.fixture
def result_event(request_event: IntegrationRequest) -> IntegrationResult:
    return IntegrationResult.for_request(
        request_event,
        status=ResultStatus.FAILED,
        response=ResponseEnvelope.failure(429, "Too Many Requests: retry after 3"),
        error=ErrorRecord(
            category="rate_limited",
            code=429,
            message="Too Many Requests",
            retryable=True,
            retry_after_ms=3000,
        ),
        received_at=T0 + timedelta(milliseconds=5),
        started_at=T0 + timedelta(milliseconds=7),
        finished_at=T0 + timedelta(milliseconds=250),
        worker_id="worker-a",
        integration_version="1.0.0",
    )


@pytest.fixture
def dead_letter_event() -> DeadLetter:
    return DeadLetter(
        original=b"\xc3\x01garbage\x00\xff",
        original_key=b"bot-42",
        topic="integration.requests",
        partition=3,
        offset=123_456_789_012,
        timestamp=T0,
        headers=(("traceparent", b"00-abc-def-01"), ("empty", None)),
        error=ErrorRecord(category="undecodable", message="bad magic byte 0x7b"),
        attempts=0,
        worker_id="worker-a",
        failed_at=T0 + timedelta(seconds=1),
    )


@pytest.fixture
def all_events(
    request_event: IntegrationRequest,
    result_event: IntegrationResult,
    dead_letter_event: DeadLetter,
) -> list[IntegrationRequest | IntegrationResult | DeadLetter]:
    """One of each, written with the newest schemas: the request with an ordering key, the
    result CANCELLED (the status result v2 adds; the error record stays for wire coverage)."""
    keyed = replace(request_event, ordering_key="chat-12345")
    cancelled = replace(result_event, status=ResultStatus.CANCELLED)
    return [keyed, cancelled, dead_letter_event]


_CT = "application/vnd.schemaregistry.v1+json"


@dataclass
class FakeSchemaRegistry:
    """State of the fake registry: schemas by id, subjects, and a count of calls per route."""

    url: str = ""
    schemas: dict[int, str] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def id_for(self, schema: str) -> int | None:
        # Confluent gives one schema the same global id in every subject.
        wanted = _normalise(schema)
        return next((i for i, s in self.schemas.items() if _normalise(s) == wanted), None)

    def register(self, subject: str, schema: str) -> int:
        schema_id = self.id_for(schema)
        if schema_id is None:
            schema_id = len(self.schemas) + 1
            self.schemas[schema_id] = schema
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id


def _normalise(schema: str) -> str:
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=_CT)


def registry_app(state: FakeSchemaRegistry) -> web.Application:
    """The aiohttp app serving ``state``."""

    async def register(request: web.Request) -> web.Response:
        state.calls["register"] += 1
        body = await request.json()
        if body.get("schemaType", "AVRO") != "AVRO":
            return _answer({"error_code": 42201, "message": "Invalid schema type"}, 422)
        return _answer({"id": state.register(request.match_info["subject"], body["schema"])})

    async def lookup(request: web.Request) -> web.Response:
        state.calls["lookup"] += 1
        subject = request.match_info["subject"]
        body = await request.json()
        if subject not in state.subjects:
            return _answer({"error_code": 40401, "message": f"Subject '{subject}' not found."}, 404)
        schema_id = state.id_for(body["schema"])
        if schema_id is None or schema_id not in state.subjects[subject]:
            return _answer({"error_code": 40403, "message": "Schema not found"}, 404)
        version = state.subjects[subject].index(schema_id) + 1
        return _answer(
            {"subject": subject, "id": schema_id, "version": version, "schema": body["schema"]}
        )

    async def by_id(request: web.Request) -> web.Response:
        state.calls["get_schema"] += 1
        schema_id = int(request.match_info["schema_id"])
        if schema_id not in state.schemas:
            return _answer({"error_code": 40403, "message": "Schema not found"}, 404)
        return _answer({"schema": state.schemas[schema_id]})

    app = web.Application()
    app.router.add_post("/subjects/{subject}/versions", register)
    app.router.add_post("/subjects/{subject}", lookup)
    app.router.add_get("/schemas/ids/{schema_id}", by_id)
    return app


@pytest.fixture
async def fake_registry() -> AsyncIterator[FakeSchemaRegistry]:
    """A fake Confluent Schema Registry listening on 127.0.0.1 (a free port)."""
    state = FakeSchemaRegistry()
    runner = web.AppRunner(registry_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
