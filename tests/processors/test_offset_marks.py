"""The commit-metadata encoding of finished offsets above the committed one."""

from __future__ import annotations

import random

from processors import offset_marks


def test_round_trip() -> None:
    finished = {101, 102, 103, 250, 999}
    text = offset_marks.encode(100, finished)
    assert text.startswith("as1:100:")
    assert offset_marks.decode(text, 100) == finished


def test_offsets_below_the_base_are_not_marked() -> None:
    assert offset_marks.decode(offset_marks.encode(10, {5, 9, 10, 11}), 10) == {10, 11}
    assert offset_marks.encode(10, {3}) == ""
    assert offset_marks.encode(10, []) == ""


def test_a_mark_for_another_base_is_ignored() -> None:
    # e.g. an operator reset the group's offsets: the marks describe other records
    assert offset_marks.decode(offset_marks.encode(100, {101}), 90) == frozenset()


def test_foreign_or_broken_metadata_is_ignored() -> None:
    for text in (None, "", "hello", "as1:", "as1:x:y", "as1:5:!!!", "as1:5:AAAA"):
        assert offset_marks.decode(text, 5) == frozenset()


def test_too_many_marks_keep_the_lowest_within_the_limit() -> None:
    rng = random.Random(7)
    finished = set(rng.sample(range(1, 200_000), 20_000))  # random: compresses badly
    text = offset_marks.encode(0, finished, max_chars=2_000)
    assert 0 < len(text) <= 2_000
    kept = offset_marks.decode(text, 0)
    assert kept and kept <= finished
    assert max(kept) < min(finished - kept), "a higher offset was kept over a lower one"


def test_runs_compress_well() -> None:
    # 50,000 finished records in a few runs fit easily in the broker's default 4 KiB
    finished = set(range(1, 20_000)) | set(range(20_001, 50_002))
    text = offset_marks.encode(0, finished)
    assert len(text) < 400
    assert offset_marks.decode(text, 0) == finished
