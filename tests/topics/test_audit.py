"""The audit reader and ``actionstream audit`` on the real broker, with results at chosen times."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from processors.settings import Settings
from schemas import AvroCodec, IntegrationResult, ResultStatus
from support.operator import (
    Stamped,
    apply_topics,
    operator_settings,
    produce_at,
    result_at,
    run_cli,
)
from topics.audit import CSV_COLUMNS, AuditReader, ResultFilter

FAILED, SUCCEEDED = ResultStatus.FAILED, ResultStatus.SUCCEEDED


def test_filters() -> None:
    codec_free = IntegrationResult(
        request_id=uuid.uuid4(), bot_id="bot-1", integration_id="telegram_send_message",
        status=FAILED, response="{}", received_at=datetime.now(UTC),
        finished_at=datetime.now(UTC), worker_id="w",
    )  # fmt: skip
    assert ResultFilter().matches(codec_free)
    assert ResultFilter(bots="bot-1").matches(codec_free)  # one string is one bot, not letters
    assert not ResultFilter(bots="bot-").matches(codec_free)
    assert ResultFilter(statuses=["FAILED", "EXPIRED"]).matches(codec_free)
    assert not ResultFilter(statuses={SUCCEEDED}).matches(codec_free)
    assert not ResultFilter(error_categories={"auth"}).matches(codec_free)  # no error at all
    assert ResultFilter(bots={"x", "bot-1"}, integrations={"telegram_send_message"}).matches(
        codec_free
    )
    with pytest.raises(ValueError, match="'DONE' is not a valid ResultStatus"):
        ResultFilter(statuses={"DONE"})


class Window:
    """Results a minute apart around a window [since, until): 4 before, 8 inside, 3 after."""

    def __init__(self, codec: AvroCodec, unique: str) -> None:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.since = base + timedelta(minutes=10)
        self.until = base + timedelta(minutes=20)
        self.inside: list[IntegrationResult] = []
        self.records: list[Stamped] = []
        minutes = [*range(6, 10), *range(10, 20, 2), 13, 17, 19, 20, 21, 25]
        for n, minute in enumerate(minutes):
            status = FAILED if n % 3 == 0 else SUCCEEDED
            bot = f"bot-{unique}-{n % 4}"
            result, record = result_at(codec, bot, base + timedelta(minutes=minute), status=status)
            self.records.append(record)
            if self.since <= record.at < self.until:
                self.inside.append(result)
        assert len(self.inside) == 8


@pytest.fixture
async def window(kafka_bootstrap: str, unique: str) -> tuple[Settings, Window]:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    data = Window(AvroCodec(), unique)
    garbage = Stamped(b"bot-x", b"not avro", data.since + timedelta(seconds=30))
    records = [*data.records[:5], garbage, *data.records[5:]]  # published in time order
    await produce_at(kafka_bootstrap, settings.topics.results, records)
    return settings, data


async def test_between_yields_exactly_the_window_and_skips_what_does_not_decode(
    window: tuple[Settings, Window],
) -> None:
    settings, data = window
    reader = AuditReader.from_settings(settings)
    got = [r async for r in reader.between(data.since, data.until)]
    assert sorted(str(r.request_id) for r in got) == sorted(str(r.request_id) for r in data.inside)
    assert all(isinstance(r, IntegrationResult) for r in got)
    assert reader.undecodable == 1

    failed = ResultFilter(statuses={FAILED})
    got = [r async for r in reader.between(data.since, data.until, failed)]
    assert {r.request_id for r in got} == {r.request_id for r in data.inside if r.status is FAILED}
    bot = data.inside[0].bot_id
    got = [r async for r in reader.between(data.since, data.until, ResultFilter(bots=bot))]
    assert {r.request_id for r in got} == {r.request_id for r in data.inside if r.bot_id == bot}


async def test_follow_yields_new_results_as_they_are_published(
    window: tuple[Settings, Window], unique: str
) -> None:
    settings, _ = window
    reader = AuditReader.from_settings(settings)
    codec = AvroCodec()
    bot = f"bot-{unique}-live"
    received: list[IntegrationResult] = []
    two = asyncio.Event()

    start = datetime.now(UTC) - timedelta(seconds=1)  # the window's results are older

    async def follow() -> None:
        async for result in reader.follow(ResultFilter(bots=bot), since=start):
            received.append(result)
            if len(received) == 2:
                two.set()

    task = asyncio.create_task(follow())
    fresh = [result_at(codec, b, datetime.now(UTC)) for b in (bot, "someone-else", bot)]
    await produce_at(settings.kafka.bootstrap_servers, settings.topics.results,
                     [record for _, record in fresh])  # fmt: skip
    async with asyncio.timeout(20):
        await two.wait()
    task.cancel()
    assert [r.request_id for r in received] == [fresh[0][0].request_id, fresh[2][0].request_id]


async def test_export_writes_exactly_the_window_as_jsonl_and_csv(
    window: tuple[Settings, Window], tmp_path: Path
) -> None:
    settings, data = window
    since, until = data.since.isoformat(), data.until.isoformat()
    expected = sorted(str(r.request_id) for r in data.inside)

    out = tmp_path / "window.jsonl"
    done = await run_cli(settings, "audit", "export", "--since", since, "--until", until,
                         "--output", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"wrote 8 result(s) to {out}" in done.stdout
    lines = out.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(row["request_id"] for row in rows) == expected
    for row in rows:
        assert data.since <= datetime.fromisoformat(row["timestamp"]) < data.until
        assert row["status"] in {"FAILED", "SUCCEEDED"}
        assert isinstance(row["response"], dict)  # the envelope, parsed
    assert "1 undecodable record(s) skipped" in done.stderr

    out_csv = tmp_path / "failed.csv"
    done = await run_cli(settings, "audit", "export", "--since", since, "--until", until,
                         "--format", "csv", "--status", "FAILED", "-o", str(out_csv))  # fmt: skip
    assert done.exit_code == 0, done.output
    with out_csv.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == CSV_COLUMNS
    failed = sorted(str(r.request_id) for r in data.inside if r.status is FAILED)
    assert sorted(row["request_id"] for row in table) == failed
    assert {row["error_category"] for row in table} == {"permanent"}
    assert f"wrote {len(failed)} result(s)" in done.stdout


async def test_tail_prints_the_last_results_of_the_window(
    window: tuple[Settings, Window],
) -> None:
    settings, data = window
    done = await run_cli(settings, "audit", "tail", "--since", data.since.isoformat(),
                         "--until", data.until.isoformat(), "--limit", "3",
                         "--format", "jsonl")  # fmt: skip
    assert done.exit_code == 0, done.output
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    by_time = sorted(data.inside, key=lambda r: r.finished_at)
    assert {p["request_id"] for p in printed} == {str(r.request_id) for r in by_time[-3:]}

    table = await run_cli(settings, "audit", "tail", "--since", data.since.isoformat(),
                          "--until", data.until.isoformat(), "--status", "FAILED",
                          columns=80)  # fmt: skip
    assert table.exit_code == 0, table.output
    for result in data.inside:  # whole request ids, even in 80 columns
        assert (str(result.request_id) in table.stdout) is (result.status is FAILED)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--since", "last week", "-o", "x.jsonl"], "cannot read 'last week' as a time"),
        (["export", "--since", "1h", "--until", "2h", "-o", "x"], "must be before --until"),
        (["tail", "--integration", "telegram_send_mesage"], "did you mean 'telegram_send_message'"),
        (["tail", "--status", "LOST"], "--status 'LOST' is not one of"),
        (["tail", "--error-category", "oops"], "--error-category 'oops' is unknown"),
        (["tail", "--follow", "--until", "1h"], "leave out --until"),
        (["export", "--since", "1h", "-o", "/nonexistent/dir/x.csv"], "does not exist"),
    ],
)
async def test_bad_options_fail_clearly_with_exit_2(
    kafka_bootstrap: str, unique: str, args: list[str], message: str
) -> None:
    done = await run_cli(operator_settings(kafka_bootstrap, unique), "audit", *args)
    assert done.exit_code == 2, done.output
    assert message in done.output


async def test_a_missing_results_topic_is_an_error_that_says_what_to_do(
    kafka_bootstrap: str, unique: str
) -> None:
    done = await run_cli(operator_settings(kafka_bootstrap, unique), "audit", "tail")
    assert done.exit_code == 2
    assert "actionstream topics apply" in done.output


async def test_help_has_examples(kafka_bootstrap: str, unique: str) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    for command in (["audit", "tail"], ["audit", "export"], ["replay"]):
        done = await run_cli(settings, *command, "--help")
        assert done.exit_code == 0
        assert "Examples:" in done.stdout
        assert f"actionstream {' '.join(command)} --" in done.stdout
