"""Time parsing, and reading a topic between two times by offset lookup on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from support.operator import Stamped, apply_topics, operator_settings, produce_at
from topics.readers import TopicMissingError
from topics.timerange import (
    ScanProgress,
    TimeRangeError,
    parse_duration,
    parse_time,
    parse_window,
    scan,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:30:00+02:00", datetime(2024, 5, 1, 10, 30, tzinfo=UTC)),
        ("2024-05-01T10:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # no offset: UTC
        ("2024-04-30", datetime(2024, 4, 30, tzinfo=UTC)),
        ("now", NOW),
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        (" 1h30m ", NOW - timedelta(hours=1, minutes=30)),
        ("1d12h", NOW - timedelta(days=1, hours=12)),
        ("1w", NOW - timedelta(days=7)),
        ("45S", NOW - timedelta(seconds=45)),
    ],
)
def test_times_parse_as_iso_or_relative_to_now(text: str, expected: datetime) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["yesterday", "2x", "", "-2h", "2024-13-01", "h2"])
def test_unreadable_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(TimeRangeError, match=r"ISO-8601 .* 30m, 2h, 7d"):
        parse_time(text, now=NOW)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2h15m") == timedelta(hours=2, minutes=15)
    with pytest.raises(TimeRangeError, match="not a duration"):
        parse_duration("soon")


def test_window_needs_since_before_until() -> None:
    assert parse_window("2h", "1h", now=NOW) == (NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    assert parse_window(None, None, now=NOW) == (None, None)
    with pytest.raises(TimeRangeError, match=r"--since .* must be before --until"):
        parse_window("1h", "2h", now=NOW)
    with pytest.raises(TimeRangeError, match="must be before"):
        parse_window("now", "now", now=NOW)


async def test_scan_reads_only_the_window_found_by_offset_lookup(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    topic = settings.topics.results
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    # 30 records a minute apart, spread over the 3 partitions by key.
    records = [
        Stamped(f"bot-{i % 5}".encode(), f"v{i}".encode(), base + timedelta(minutes=i))
        for i in range(30)
    ]
    await produce_at(kafka_bootstrap, topic, records)

    progress = ScanProgress()
    since, until = base + timedelta(minutes=10), base + timedelta(minutes=20)
    got = [r.value async for r in scan(kafka_bootstrap, topic, since=since, until=until,
                                       progress=progress)]  # fmt: skip
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(10, 20))
    # Only the window's offsets were fetched: the 10 older records were never read.
    assert progress.total == 10
    assert progress.read == 10

    # Open ends: from a time to the end, and from the beginning to a time.
    tail = [r.value async for r in scan(kafka_bootstrap, topic, since=base + timedelta(minutes=25))]
    assert sorted(tail) == sorted(f"v{i}".encode() for i in range(25, 30))
    head = [r.value async for r in scan(kafka_bootstrap, topic, until=base + timedelta(minutes=3))]
    assert sorted(head) == [b"v0", b"v1", b"v2"]

    # A window with nothing in it ends at once.
    empty = ScanProgress()
    later = base + timedelta(hours=1)
    none = [r async for r in scan(kafka_bootstrap, topic, since=later, until=later + timedelta(
        minutes=5), progress=empty)]  # fmt: skip
    assert none == []
    assert empty.total == 0


async def test_follow_continues_exactly_where_a_read_ended(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    topic = settings.topics.results
    now = datetime.now(UTC)
    await produce_at(
        kafka_bootstrap, topic, [Stamped(f"b{i}".encode(), b"old", now) for i in range(6)]
    )
    progress = ScanProgress()
    old = [r async for r in scan(kafka_bootstrap, topic, since=now - timedelta(minutes=1),
                                 progress=progress)]  # fmt: skip
    assert len(old) == 6
    # Published after the read ended and before following started: must not be lost.
    await produce_at(kafka_bootstrap, topic, [Stamped(b"b1", b"gap", datetime.now(UTC))])

    seen: list[bytes] = []
    five = asyncio.Event()

    async def follow() -> None:
        async for record in scan(kafka_bootstrap, topic, follow=True, start=progress.positions):
            seen.append(record.value or b"")
            if len(seen) >= 5:
                five.set()

    task = asyncio.create_task(follow())
    try:
        await asyncio.sleep(1.0)
        await produce_at(
            kafka_bootstrap, topic, [Stamped(f"b{i}".encode(), b"new", datetime.now(UTC))
                                     for i in range(4)],
        )  # fmt: skip
        async with asyncio.timeout(20):
            await five.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert sorted(seen) == [b"gap", b"new", b"new", b"new", b"new"]


async def test_follow_without_a_start_begins_at_the_end(kafka_bootstrap: str, unique: str) -> None:
    settings = operator_settings(kafka_bootstrap, unique, partitions=1)
    await apply_topics(settings)
    topic = settings.topics.dlq
    await produce_at(kafka_bootstrap, topic, [Stamped(b"b", b"before", datetime.now(UTC))])
    positioned = asyncio.Event()
    progress = ScanProgress(on_update=lambda _: positioned.set())  # first call: offsets resolved
    reader = scan(kafka_bootstrap, topic, follow=True, progress=progress)
    first = asyncio.ensure_future(anext(reader))
    async with asyncio.timeout(20):
        await positioned.wait()
    assert progress.total is None  # following: no end
    await produce_at(kafka_bootstrap, topic, [Stamped(b"b", b"after", datetime.now(UTC))])
    async with asyncio.timeout(20):
        record = await first
    await reader.aclose()
    assert record.value == b"after"


async def test_a_missing_topic_is_named(kafka_bootstrap: str, unique: str) -> None:
    with pytest.raises(TopicMissingError, match=f"nosuch.{unique}.*topics apply"):
        async for _ in scan(kafka_bootstrap, f"nosuch.{unique}", since=NOW):
            pass
