"""Time windows over a topic: parse ``--since``/``--until``, turn them into offsets, read between.

Operators name times the way they think of them: ISO-8601 (``2024-05-01T10:00:00Z``,
``2024-05-01``; a time without an offset is UTC) or relative to now (``30m``, ``2h``, ``1d12h``,
``now``). :func:`scan` resolves a window to offsets with the broker's time index
(``offsets_for_times``), so reading the last hour of a topic holding a month reads an hour's
records, not a month's. It reads with its own group-less consumer: it never joins, commits for or
moves the workers' consumer group.

The window is ``since <= record timestamp < until``, on the Kafka record timestamp (the producer's
CreateTime: when the result or dead letter was published). ``offsets_for_times`` gives the first
offset at or after a time in each partition; records are also checked against the window one by
one, because CreateTime is set by producers and need not grow with the offset.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from topics.connection import Brokers
from topics.readers import assign_all, groupless_consumer

__all__ = [
    "ScanProgress",
    "ScanStalledError",
    "TimeRangeError",
    "parse_duration",
    "parse_time",
    "parse_window",
    "scan",
    "to_millis",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_PART = re.compile(r"(\d+)([smhdw])")
_POLL_MS = 500
# A bounded read that gets nothing for this long while offsets are still due has lost its data
# (e.g. a partition moved or was truncated mid-read); say so instead of hanging.
STALL_TIMEOUT_S = 30.0


class TimeRangeError(ValueError):
    """A time or window that cannot be understood; the message says what is accepted."""


class ScanStalledError(RuntimeError):
    """A bounded read stopped receiving records before reaching the end of its window."""


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``2h``, ``7d``, ``1w`` or combinations such as ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise TimeRangeError(
            f"{text!r} is not a duration; use a number and a unit (s, m, h, d, w), "
            "e.g. 30m, 2h, 1d12h"
        )
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(compact)))


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO-8601, ``now``, or a duration meaning "that long ago"."""
    now = now if now is not None else datetime.now(UTC)
    value = text.strip()
    if value.lower() == "now":
        return now
    if value and _DURATION.fullmatch(value.lower().replace(" ", "")):
        return now - parse_duration(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimeRangeError(
            f"cannot read {text!r} as a time; use ISO-8601 (2024-05-01T10:00:00Z, 2024-05-01; "
            "UTC unless an offset is given), 'now', or a time ago such as 30m, 2h, 7d"
        ) from None
    if parsed.tzinfo is None:  # operators read UTC timestamps in results: assume UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_window(
    since: str | None, until: str | None, *, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Both ends parsed against the same ``now``; ``since`` must come before ``until``."""
    now = now if now is not None else datetime.now(UTC)
    start = parse_time(since, now=now) if since is not None else None
    end = parse_time(until, now=now) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise TimeRangeError(
            f"--since ({start.isoformat(timespec='seconds')}) must be before "
            f"--until ({end.isoformat(timespec='seconds')})"
        )
    return start, end


def to_millis(moment: datetime) -> int:
    """Milliseconds since the epoch, the unit of Kafka timestamps."""
    return int(moment.timestamp() * 1000)


@dataclass
class ScanProgress:
    """What a :func:`scan` has done so far; ``on_update`` is called after every fetched batch."""

    total: int | None = None
    """Records between the resolved offsets (an upper bound of what is yielded); None when
    following."""
    read: int = 0
    positions: dict[int, int] = field(default_factory=dict)
    """The next offset to read per partition: where a later :func:`scan` continues (``start``)."""
    on_update: Callable[[ScanProgress], None] | None = None

    def _notify(self) -> None:
        if self.on_update is not None:
            self.on_update(self)


async def scan(
    brokers: Brokers,
    topic: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    follow: bool = False,
    start: Mapping[int, int] | None = None,
    progress: ScanProgress | None = None,
    client_id: str = "actionstream-reader",
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield the records of ``topic`` published in ``[since, until)``, partition by partition.

    Where it starts: ``start`` (partition → offset) when given, else the first offset at or
    after ``since``, else the end when following and the beginning otherwise. Where it stops:
    the first offset at or after ``until``, else the end of each partition as it was when the
    scan began; with ``follow`` it never stops (cancel it, or leave the ``async for``).
    Records of different partitions interleave; within a partition they come in offset order.
    Use it under ``contextlib.aclosing`` when leaving early, so the consumer closes at once.
    """
    progress = progress if progress is not None else ScanProgress()
    consumer = groupless_consumer(brokers, client_id=client_id)
    try:
        await consumer.start()
        assignment = await assign_all(consumer, topic)
        first = await _start_offsets(consumer, assignment, since, start, follow)
        last = None if follow else await _stop_offsets(consumer, assignment, until)
        due = {tp: first[tp] for tp in assignment if last is None or first[tp] < last[tp]}
        progress.positions = {tp.partition: first[tp] for tp in assignment}
        progress.total = None if last is None else sum(last[tp] - first[tp] for tp in due)
        progress._notify()
        if not due:
            return
        consumer.assign(list(due))
        for tp, offset in due.items():
            consumer.seek(tp, offset)
        since_ms = None if since is None else to_millis(since)
        until_ms = None if until is None else to_millis(until)
        idle_since = asyncio.get_running_loop().time()
        while due:
            batches = await consumer.getmany(timeout_ms=_POLL_MS)
            for tp, records in batches.items():
                stop = None if last is None else last[tp]
                for record in records:
                    if stop is not None and record.offset >= stop:
                        break
                    progress.read += 1
                    progress.positions[tp.partition] = record.offset + 1
                    if since_ms is not None and record.timestamp < since_ms:
                        continue
                    if until_ms is not None and record.timestamp >= until_ms:
                        continue
                    yield record
            if last is not None:
                await _retire_finished(consumer, due, last, progress)
                now = asyncio.get_running_loop().time()
                if batches:
                    idle_since = now
                elif due and now - idle_since > STALL_TIMEOUT_S:
                    raise ScanStalledError(
                        f"{topic}: no records for {STALL_TIMEOUT_S:.0f}s while partitions "
                        f"{sorted(tp.partition for tp in due)} still had offsets due; "
                        "was the topic truncated or recreated during the read?"
                    )
            progress._notify()
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    assignment: list[TopicPartition],
    since: datetime | None,
    start: Mapping[int, int] | None,
    follow: bool,
) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assignment)
    if start is not None:
        return {tp: start.get(tp.partition, ends[tp]) for tp in assignment}
    if since is not None:
        return await _offsets_at(consumer, assignment, since, ends)
    if follow:
        return ends
    beginnings: dict[TopicPartition, int] = await consumer.beginning_offsets(assignment)
    return beginnings


async def _stop_offsets(
    consumer: AIOKafkaConsumer, assignment: list[TopicPartition], until: datetime | None
) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assignment)
    if until is None:
        return ends
    return await _offsets_at(consumer, assignment, until, ends)


async def _offsets_at(
    consumer: AIOKafkaConsumer,
    assignment: list[TopicPartition],
    moment: datetime,
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """The first offset at or after ``moment`` per partition (the end where none is)."""
    found = await consumer.offsets_for_times({tp: max(0, to_millis(moment)) for tp in assignment})
    return {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in assignment}


async def _retire_finished(
    consumer: AIOKafkaConsumer,
    due: dict[TopicPartition, int],
    last: dict[TopicPartition, int],
    progress: ScanProgress,
) -> None:
    # The position, not the last record seen, decides: it also moves past offsets that hold no
    # record (transaction markers) and jumps forward when retention deleted what was due.
    for tp in list(due):
        if await consumer.position(tp) >= last[tp]:
            del due[tp]
            progress.positions[tp.partition] = last[tp]
            consumer.pause(tp)
