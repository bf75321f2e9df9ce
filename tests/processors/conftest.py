"""Fixtures for pipeline tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.pipeline import Pipeline, running_pipeline


@pytest.fixture
async def pipeline(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    """A pipeline whose worker is not started yet (``pipeline.worker.start()``)."""
    async with running_pipeline(kafka_bootstrap, redis_url, tmp_path, unique) as running:
        yield running
