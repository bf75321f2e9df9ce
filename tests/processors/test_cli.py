"""The command line: clear errors with non-zero exits, and publish --wait end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from infra import REPO
from processors.cli import cli
from support.env import settings_env
from support.pipeline import Pipeline

runner = CliRunner()


def test_publish_rejects_bad_json_with_a_clear_message() -> None:
    result = runner.invoke(
        cli, ["publish", "--bot", "b", "--integration", "telegram_send_message", "--config", "{"]
    )
    assert result.exit_code == 2
    assert "--config is not valid JSON" in result.output


def test_publish_rejects_config_that_breaks_the_schema_before_sending() -> None:
    result = runner.invoke(
        cli,
        ["publish", "--bot", "b", "--integration", "telegram_send_message", "--config", "{}"],
    )
    assert result.exit_code == 2
    assert "'text' is a required property" in result.output


def test_publish_rejects_an_ordering_key_over_the_bound_before_sending() -> None:
    config = '{"chat_id": 1, "text": "x"}'
    result = runner.invoke(
        cli,
        ["publish", "--bot", "b", "--integration", "telegram_send_message", "--config", config,
         "--ordering-key", "k" * 300],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--ordering-key: ordering_key 'kkkk" in result.output
    assert "has 300 bytes; it needs 1 to 256" in result.output


def test_integrations_list_and_show() -> None:
    listed = runner.invoke(cli, ["integrations", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    ids = {entry["id"] for entry in json.loads(listed.output)}
    assert "telegram_send_message" in ids
    shown = runner.invoke(cli, ["integrations", "show", "telegram_send_message"])
    assert shown.exit_code == 0
    assert json.loads(shown.output)["side_effect"] == "non_idempotent"
    unknown = runner.invoke(cli, ["integrations", "show", "nosuch_thing"])
    assert unknown.exit_code == 2
    assert "unknown integration 'nosuch_thing'" in unknown.output
    bad = runner.invoke(cli, ["integrations", "list", "--category", "astrology"])
    assert bad.exit_code == 2
    assert "unknown category 'astrology'" in bad.output


async def test_publish_wait_prints_the_result(pipeline: Pipeline) -> None:
    bot = pipeline.bot(5)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(5)}}})
    await pipeline.worker.astart()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")},
        **settings_env(pipeline.settings),
    }
    config = json.dumps({"chat_id": 77, "text": "from the cli"})
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "processors", "publish", "--bot", bot,
         "--integration", "telegram_send_message", "--config", config, "--wait"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    printed = json.loads(done.stdout)
    assert printed["status"] == "SUCCEEDED"
    assert printed["response"]["result"]["text"] == "from the cli"
    assert [m.text for m in pipeline.fake.messages(chat_id=77)] == ["from the cli"]


def _cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")},
        **settings_env(pipeline.settings),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "processors", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=90, check=False,
    )  # fmt: skip


async def test_bots_pause_shows_the_workers_answer_status_and_the_audit_trail(
    pipeline: Pipeline,
) -> None:
    bot = pipeline.bot(6)
    await pipeline.worker.astart()
    paused = await asyncio.to_thread(
        _cli, pipeline, "bots", "pause", bot, "--by", "alice", "--reason", "spam", "--wait", "5"
    )
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert f"{bot}: pause by alice at " in paused.stdout
    assert ": 0 waiting" in paused.stdout and "applied by " in paused.stdout

    status = await asyncio.to_thread(_cli, pipeline, "bots", "status", bot)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"bot {bot}: paused (pause by alice" in status.stdout

    bad = await asyncio.to_thread(_cli, pipeline, "bots", "cancel", bot, "--request", "nope")
    assert bad.returncode == 2
    assert "request id 'nope' is not a UUID" in bad.stdout + bad.stderr

    resumed = await asyncio.to_thread(_cli, pipeline, "bots", "resume", bot, "--wait", "0")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    audit = await asyncio.to_thread(
        _cli, pipeline, "audit", "commands", "--bot", bot, "--format", "jsonl"
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [r["action"] for r in records if r["kind"] == "command"] == ["pause", "resume"]
    # The worker's answer to the pause follows it (the one to the resume may still come).
    assert records[1]["kind"] == "applied" and records[1]["command_id"] == records[0]["command_id"]
    assert records[0]["issued_by"] == "alice" and records[0]["reason"] == "spam"
    status = await asyncio.to_thread(_cli, pipeline, "bots", "status", bot)
    assert f"bot {bot}: running" in status.stdout
