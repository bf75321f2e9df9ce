"""Fixtures for processor and pipeline tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from integrations.base import BaseIntegration
from support.pipeline import Pipeline, running_pipeline
from support.processing import Harness, build_harness


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


@pytest.fixture
async def pipeline(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    """A pipeline whose worker is not started yet (``pipeline.worker.start()``)."""
    async with running_pipeline(kafka_bootstrap, redis_url, tmp_path, unique) as running:
        yield running
