"""Fixtures for processor and pipeline tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from integrations.base import BaseIntegration
from support.pipeline import Pipeline, running_pipeline
from support.processing import Harness, build_harness
from support.redis_cluster import RedisClusterStack, free_port_block, on_cluster


@pytest.fixture
async def make(redis_client: aioredis.Redis, unique: str) -> AsyncIterator[Callable[..., Harness]]:
    """``make(*integrations, **settings)``: an in-process processor (support/processing.py)."""
    made: list[Harness] = []

    def build(*integrations: BaseIntegration, **settings: Any) -> Harness:
        harness = build_harness(redis_client, f"t{unique}", *integrations, **settings)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.scheduler.drain(1)
        await harness.processor.aclose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterStack]:
    """A private Redis Cluster (3 masters, 3 replicas), started once for the tests that ask."""
    stack = RedisClusterStack(tmp_path_factory.mktemp("redis-cluster"), free_port_block())
    stack.up()
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
async def pipeline(
    request: pytest.FixtureRequest,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[Pipeline]:
    """A pipeline whose worker is not started yet (``pipeline.worker.start()``).

    On one Redis; ``@pytest.mark.parametrize("pipeline", ["single", "cluster"], indirect=True)``
    runs a test on a Redis Cluster as well."""
    adjust = None
    if getattr(request, "param", "single") == "cluster":
        stack: RedisClusterStack = request.getfixturevalue("redis_cluster")
        stack.flushall()
        adjust = on_cluster(stack)
    async with running_pipeline(
        kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
    ) as running:
        yield running
