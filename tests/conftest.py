"""Shared fixtures: the real Kafka broker and Redis (see tests/infra.py for how they are found)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from infra import InfraUnavailable, find_kafka, find_redis, stop_containers

TEST_REDIS_DB = 15  # tests flush this database only, never the one a local worker uses


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real Kafka broker; fails the test when none can be had."""
    try:
        yield find_kafka()
    except InfraUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        stop_containers()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real Redis, pointing at the tests' own database number."""
    try:
        url = find_redis()
    except InfraUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{TEST_REDIS_DB}"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the tests' Redis database, flushed before each test."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic names, group ids and keys."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the test environment free of a developer's ACTIONSTREAM_* settings (but the service
    addresses, which the fixtures above read once per session)."""
    keep = {"ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS", "ACTIONSTREAM_REDIS__URL"}
    for name in list(os.environ):
        if name.startswith("ACTIONSTREAM_") and name not in keep:
            monkeypatch.delenv(name)
