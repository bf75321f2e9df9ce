"""The worker's garbage-collector settings: a higher generation-0 threshold and a frozen
start-up heap, or the interpreter's own settings when the threshold is 0."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from processors.settings import Settings
from processors.worker import tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_the_default_raises_generation_0_and_freezes_what_start_up_made() -> None:
    _, older, oldest = gc.get_threshold()
    tune_gc(Settings().worker.gc_threshold)
    assert gc.get_threshold() == (50_000, older, oldest)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_zero_leaves_the_interpreter_alone() -> None:
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
