"""``actionstream bots pause|resume|cancel|status``: operators act on one bot's queued actions.

Each command is a record on the commands topic (:mod:`topics.bot_commands`), keyed by the bot;
every worker applies it within about a second and answers with what it found. The command
prints those answers for ``--wait`` seconds: which worker applied it, which of the bot's
requests were already executing (they finish), how many were waiting.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from processors.bot_control import BotControl
from processors.cli.audit import kafka_errors
from processors.cli.common import console, fail, load_settings
from processors.settings import Settings
from topics.bot_commands import BotAction, BotCommand, CommandApplied, CommandError
from topics.commands_client import CommandsTopic
from topics.timerange import TimeRangeError, parse_time

app = typer.Typer(
    help="Pause, resume or cancel one bot's queued actions, across every worker.",
    no_args_is_help=True,
)

Bot = Annotated[str, typer.Argument(help="the bot_id")]
By = Annotated[
    str | None,
    typer.Option("--by", help="who issues it, for the audit trail (default: $ACTIONSTREAM_OPERATOR "
                 "or user@host)"),
]  # fmt: skip
Reason = Annotated[str, typer.Option("--reason", help="why, for the audit trail")]
Wait = Annotated[
    float, typer.Option("--wait", help="seconds to collect the workers' answers", min=0)
]


def _operator(by: str | None) -> str:
    return (
        by
        or os.environ.get("ACTIONSTREAM_OPERATOR")
        or (f"{getpass.getuser()}@{socket.gethostname()}")
    )


def _issue(settings: Settings, command: BotCommand, wait_s: float) -> None:
    topic = CommandsTopic(settings)

    async def run() -> list[CommandApplied]:
        offset = await topic.send(command)
        console.print(f"{command.bot_id}: {command.describe()} (command {command.command_id})")
        return [answer async for answer in topic.answers(command, offset, timeout_s=wait_s)]

    with kafka_errors(settings):
        answers = asyncio.run(run())
    for answer in answers:
        line = f"  applied by {answer.worker_id} at {answer.applied_at.isoformat()}"
        line += f": {answer.waiting} waiting"
        if answer.executing_count:
            shown = ", ".join(answer.executing)
            more = answer.executing_count - len(answer.executing)
            line += f"; {answer.executing_count} already executing, they finish: {shown}" + (
                f" and {more} more" if more > 0 else ""
            )
        console.print(line, highlight=False)
    if wait_s and not answers:
        console.print(
            f"  no worker answered within {wait_s:g}s (none running, or none holds this bot's "
            "records now); workers apply it when they start or take its partition"
        )
    if command.action is BotAction.CANCEL:
        console.print(
            "  matching requests not yet started get a CANCELLED result as they come up, "
            "including those still in Kafka"
        )


def _command(
    bot: str,
    action: BotAction,
    by: str | None,
    reason: str,
    *,
    before: datetime | None = None,
    request_ids: list[str] | None = None,
) -> BotCommand:
    try:
        return BotCommand.new(
            bot, action, issued_by=_operator(by), reason=reason, before=before,
            request_ids=request_ids or (),
        )  # fmt: skip
    except CommandError as exc:
        fail(str(exc))


@app.command("pause")
def pause(bot: Bot, by: By = None, reason: Reason = "", wait: Wait = 3.0) -> None:
    """No new action of BOT starts until `resume`; its records wait, in order, without slots.

    Example: actionstream bots pause bot-42 --reason "spam report #1234"
    """
    settings = load_settings()
    _issue(settings, _command(bot, BotAction.PAUSE, by, reason), wait)


@app.command("resume")
def resume(bot: Bot, by: By = None, reason: Reason = "", wait: Wait = 3.0) -> None:
    """BOT's waiting actions run again, in their order.

    Example: actionstream bots resume bot-42
    """
    settings = load_settings()
    _issue(settings, _command(bot, BotAction.RESUME, by, reason), wait)


@app.command("cancel")
def cancel(
    bot: Bot,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="only requests created before this time (ISO-8601, "
            "'now', or ago: 30m); default: now",
        ),
    ] = None,
    request: Annotated[
        list[str] | None,
        typer.Option("--request", help="only this request_id (repeatable)"),
    ] = None,
    by: By = None,
    reason: Reason = "",
    wait: Wait = 3.0,
) -> None:
    """BOT's requests that have not started get a CANCELLED result and are never executed.

    Example: actionstream bots cancel bot-42 --before 2026-12-04T10:00Z --reason "runaway loop"
    """
    settings = load_settings()
    try:
        moment = parse_time(before) if before is not None else None
    except TimeRangeError as exc:
        fail(str(exc))
    command = _command(bot, BotAction.CANCEL, by, reason, before=moment, request_ids=request)
    _issue(settings, command, wait)


@app.command("status")
def status(bot: Bot) -> None:
    """Whether BOT is paused, what is cancelled, and its last commands with their answers.

    Example: actionstream bots status bot-42
    """
    settings = load_settings()
    with kafka_errors(settings):
        logged = asyncio.run(CommandsTopic(settings).log(bot_id=bot))
    control = BotControl()
    commands = [item.record for item in logged if isinstance(item.record, BotCommand)]
    for command in commands:
        control.apply(command)
    paused = control.paused(bot)
    console.print(
        f"bot {bot}: " + (f"[yellow]paused[/yellow] ({paused.describe()})" if paused else "running")
    )
    cancels = [c for c in commands if c.action is BotAction.CANCEL]
    if cancels:
        console.print(f"cancel commands: {len(cancels)}; the latest: {cancels[-1].describe()}")
    answers: dict[str, list[CommandApplied]] = {}
    for item in logged:
        if isinstance(item.record, CommandApplied):
            answers.setdefault(item.record.command_id, []).append(item.record)
    table = Table("issued at", "command", "by", "reason", "applied by")
    for command in commands[-10:]:
        workers = ", ".join(a.worker_id for a in answers.get(command.command_id, [])) or "-"
        table.add_row(
            command.issued_at.isoformat(), command.what(), command.issued_by,
            command.reason, workers,
        )  # fmt: skip
    if commands:
        console.print(table)
    else:
        console.print("no commands were ever issued for this bot")
