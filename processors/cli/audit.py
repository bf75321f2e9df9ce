"""``actionstream audit tail|export``: read the results topic; also the filter options of replay.

Both commands read with a group-less consumer (:class:`topics.audit.AuditReader`): they never join
the workers' consumer group or move its offsets.
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from aiokafka.errors import KafkaError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from integrations.discovery import BUILTIN_SERVICES, discover
from integrations.errors import IntegrationNotFoundError, IntegrationUnavailableError
from integrations.registry import IntegrationRegistry
from processors.cli.common import console, errors, fail, load_settings
from processors.settings import Settings
from schemas import ResultStatus
from topics.audit import (
    CSV_COLUMNS,
    ERROR_CATEGORIES,
    AuditReader,
    AuditRecord,
    ResultFilter,
    csv_row,
    json_record,
)
from topics.bot_commands import BotCommand, encode_control
from topics.commands_client import CommandsTopic
from topics.connection import refusal
from topics.readers import TopicMissingError
from topics.timerange import ScanStalledError, TimeRangeError, parse_window

app = typer.Typer(
    help="Read the results topic: print recent results, follow them, export a time window.",
    no_args_is_help=True,
)

TIME_HELP = (
    "ISO-8601 (2024-05-01T10:00Z; UTC unless an offset is given), 'now', or ago: 30m, 2h, 7d"
)
Since = Annotated[str, typer.Option("--since", help=f"start of the window: {TIME_HELP}")]
Until = Annotated[
    str | None, typer.Option("--until", help="end of the window (excluded); default: now")
]
Bots = Annotated[list[str] | None, typer.Option("--bot", help="only this bot_id (repeatable)")]
Integrations = Annotated[
    list[str] | None,
    typer.Option("--integration", help="only this integration id (repeatable)"),
]
Categories = Annotated[
    list[str] | None,
    typer.Option(
        "--error-category", help="only this error category (repeatable), e.g. permanent, auth"
    ),
]
Statuses = Annotated[
    list[str] | None,
    typer.Option("--status", help="only this status (repeatable): " + ", ".join(ResultStatus)),
]


class Format(StrEnum):
    """Output formats of ``audit tail``."""

    table = "table"
    jsonl = "jsonl"


class ExportFormat(StrEnum):
    """File formats of ``audit export``."""

    jsonl = "jsonl"
    csv = "csv"


def load_registry(settings: Settings) -> IntegrationRegistry:
    """The integration catalogue of this installation (to check ids and side effects)."""
    registry = IntegrationRegistry()
    discover(registry, (*BUILTIN_SERVICES, *settings.integrations.extra_modules))
    return registry


def build_filter(
    settings: Settings,
    bots: list[str] | None,
    integrations: list[str] | None,
    categories: list[str] | None,
    statuses: list[str] | None,
    *,
    allowed_statuses: frozenset[ResultStatus] = frozenset(ResultStatus),
) -> ResultFilter:
    """The filter the options describe; a clear error (exit 2) for any value that cannot match."""
    for status in statuses or ():
        if status.upper() not in {s.value for s in allowed_statuses}:
            allowed = ", ".join(sorted(allowed_statuses))
            fail(f"--status {status!r} is not one of: {allowed}")
    for category in categories or ():
        if category not in ERROR_CATEGORIES:
            fail(f"--error-category {category!r} is unknown; use one of: "
                 + ", ".join(sorted(ERROR_CATEGORIES)))  # fmt: skip
    if integrations:
        registry = load_registry(settings)
        for integration_id in integrations:
            try:
                registry.entry(integration_id)
            except IntegrationNotFoundError as exc:
                fail(f"--integration: {exc}")
            except IntegrationUnavailableError:
                pass  # its library is missing here, but the id is real: results may hold it
    return ResultFilter(
        bots=bots or (),
        integrations=integrations or (),
        statuses=[s.upper() for s in statuses or ()],
        error_categories=categories or (),
    )


def window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """Both ends parsed (exit 2 with the accepted forms when one cannot be)."""
    try:
        return parse_window(since, until)
    except TimeRangeError as exc:
        fail(str(exc))


@contextmanager
def kafka_errors(settings: Settings) -> Iterator[None]:
    """Turn Kafka trouble into one clear line and a non-zero exit."""
    try:
        yield
    except TopicMissingError as exc:
        fail(str(exc))
    except (KafkaError, ScanStalledError) as exc:
        fail(
            refusal(exc, settings.kafka) or f"Kafka at {settings.kafka.bootstrap_servers}: {exc}",
            code=1,
        )


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """A rich progress bar on stderr (stdout stays clean for data); yields its update hook."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=errors, transient=True, disable=not errors.is_terminal,
    ) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def update(phase: str, read: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{description} ({phase})", total=total)
            bar.update(tasks[phase], completed=read, total=total)  # type: ignore[arg-type]

        yield update


def short_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _line(record: AuditRecord) -> str:
    result, error = record.result, record.result.error
    why = "" if error is None else f"{error.category}: {error.message}"
    return (f"{short_time(record.timestamp)}  {result.bot_id}  {result.integration_id}  "
            f"{result.status.value}  {result.request_id}  {why}")  # fmt: skip


def _table(records: list[AuditRecord]) -> Table:
    table = Table("time (UTC)", "bot", "integration", "status", "error", "request_id")
    table.columns[-1].no_wrap = True
    table.columns[-1].min_width = 36  # a request_id is what one copies from here: keep it whole
    for record in records:
        result, error = record.result, record.result.error
        table.add_row(
            short_time(record.timestamp), result.bot_id, result.integration_id,
            result.status.value, "" if error is None else f"{error.category}: {error.message}",
            str(result.request_id),
        )  # fmt: skip
    return table


@app.command("tail")
def tail(
    since: Annotated[
        str, typer.Option("--since", help=f"how far back to look: {TIME_HELP}")
    ] = "1h",
    until: Until = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new results (Ctrl-C stops)")
    ] = False,
    bot: Bots = None,
    integration: Integrations = None,
    error_category: Categories = None,
    status: Statuses = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="print the last N matching results (0: all)")
    ] = 20,
    output_format: Annotated[Format, typer.Option("--format", help="table or jsonl")] = (
        Format.table
    ),
) -> None:
    """Print the latest results; with --follow, keep printing new ones.

    Without --since, the last hour is searched; --limit keeps the latest N.

    Examples:

        actionstream audit tail
        actionstream audit tail --status FAILED --since 6h --limit 50
        actionstream audit tail --bot bot-42 --follow --format jsonl | jq .status

    Exit code: 0; 2 for a bad filter or time; 1 when Kafka cannot be read.
    """
    settings = load_settings()
    if follow and until is not None:
        fail("--follow reads until stopped; leave out --until")
    filters = build_filter(settings, bot, integration, error_category, status)
    start, end = window(since, until)
    reader = AuditReader.from_settings(settings)

    def emit(records: list[AuditRecord]) -> None:
        if output_format is Format.jsonl:
            for record in records:
                typer.echo(json.dumps(json_record(record), ensure_ascii=False))
        elif follow:  # a table cannot grow: one line per result
            for record in records:
                console.print(_line(record), highlight=False, markup=False)
        elif records:
            console.print(_table(records))
        else:
            errors.print("no matching results in that window")

    async def run() -> None:
        # Partitions interleave in any order: keep the latest by time, in a bounded heap.
        recent: list[tuple[datetime, int, int, AuditRecord]] = []
        async for record in reader.between_records(start, end, filters):
            entry = (record.timestamp, record.partition, record.offset, record)
            if not limit or len(recent) < limit:
                heapq.heappush(recent, entry)
            else:
                heapq.heappushpop(recent, entry)
        emit([entry[-1] for entry in sorted(recent)])
        if follow:
            async for record in reader.follow_records(filters, start=reader.positions):
                emit([record])

    with kafka_errors(settings), suppress(KeyboardInterrupt):
        asyncio.run(run())
    if reader.undecodable:
        errors.print(f"[yellow]{reader.undecodable} undecodable record(s) skipped")


@app.command("export")
def export(
    since: Since,
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write")],
    until: Annotated[
        str, typer.Option("--until", help="end of the window (excluded); default: now")
    ] = "now",
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (one JSON object a line) or csv")
    ] = ExportFormat.jsonl,
    bot: Bots = None,
    integration: Integrations = None,
    error_category: Categories = None,
    status: Statuses = None,
) -> None:
    """Write every result published in [--since, --until) that matches the
    filters to a file, as JSON lines or CSV.

    The window is on the time each result was published (its Kafka
    timestamp) and is found with the broker's time index, not by reading the
    topic from its beginning. The file appears only when complete (written
    aside, then renamed).

    Examples:

        actionstream audit export --since 2024-05-01 --until 2024-05-02 \\
            -o may1.jsonl
        actionstream audit export --since 24h --status FAILED --format csv \\
            -o failed.csv
        actionstream audit export --since 7d --bot bot-42 \\
            --integration telegram_send_message -o bot-42.jsonl

    Exit code: 0; 2 for a bad filter, time or path; 1 when Kafka cannot be
    read.
    """
    settings = load_settings()
    filters = build_filter(settings, bot, integration, error_category, status)
    start, end = window(since, until)
    directory = output.resolve().parent
    if not directory.is_dir():
        fail(f"--output: directory {directory} does not exist")
    reader = AuditReader.from_settings(settings)

    async def run(sink: TextIO, update: Callable[[str, int, int | None], None]) -> int:
        writer = csv.writer(sink) if output_format is ExportFormat.csv else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        count = 0
        progress = lambda read, total: update("results", read, total)  # noqa: E731
        async for record in reader.between_records(start, end, filters, progress=progress):
            if writer is not None:
                writer.writerow(csv_row(record))
            else:
                sink.write(json.dumps(json_record(record), ensure_ascii=False) + "\n")
            count += 1
        return count

    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", dir=directory)
    try:
        with (
            kafka_errors(settings),
            os.fdopen(fd, "w", encoding="utf-8", newline="") as sink,
            progress_bar("exporting") as update,
        ):
            count = asyncio.run(run(sink, update))
        os.replace(temp, output)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    assert start is not None
    assert end is not None
    console.print(
        f"wrote {count} result(s) to {output} ({start.isoformat()} to {end.isoformat()})",
        highlight=False,
    )
    if reader.undecodable:
        errors.print(f"[yellow]{reader.undecodable} undecodable record(s) skipped")


@app.command("commands")
def audit_commands(
    bots: Bots = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or jsonl")] = Format.table,
) -> None:
    """Every operator command on bots (pause, resume, cancel): who, when, what, and which
    workers applied it, from the commands topic.

    Example: actionstream audit commands --bot bot-42
    """
    settings = load_settings()
    wanted = set(bots or ())
    with kafka_errors(settings):
        logged = asyncio.run(CommandsTopic(settings).log())
    table = Table("offset", "time", "bot", "what", "by / worker", "reason / found")
    for item in logged:
        record = item.record
        if wanted and record.bot_id not in wanted:
            continue
        if fmt is Format.jsonl:
            typer.echo(encode_control(record).decode())
        elif isinstance(record, BotCommand):
            table.add_row(
                str(item.offset), record.issued_at.isoformat(), record.bot_id,
                record.what(), record.issued_by, record.reason,
            )  # fmt: skip
        else:
            table.add_row(
                str(item.offset), record.applied_at.isoformat(), record.bot_id,
                f"applied {record.command_id[:8]}", record.worker_id,
                f"{record.executing_count} executing, {record.waiting} waiting",
            )  # fmt: skip
    if fmt is Format.table:
        console.print(table)
