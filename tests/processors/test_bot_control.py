"""BotControl: what the commands say about each bot, as the processor reads it before each
attempt."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from processors.bot_control import BotControl
from topics.bot_commands import BotAction, BotCommand

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def issue(bot: str, action: BotAction, **kwargs: object) -> BotCommand:
    kwargs.setdefault("now", NOW)
    return BotCommand.new(bot, action, issued_by="ops", **kwargs)  # type: ignore[arg-type]


def test_pause_and_resume_count_each_bot_once() -> None:
    control = BotControl()
    first = issue("a", BotAction.PAUSE)
    control.apply(first, now=NOW)
    control.apply(issue("a", BotAction.PAUSE, reason="again"), now=NOW)
    control.apply(issue("b", BotAction.PAUSE), now=NOW)
    assert control.paused_bots == 2
    assert control.paused("a") is not None and control.paused("a") != first
    control.apply(issue("a", BotAction.RESUME), now=NOW)
    control.apply(issue("a", BotAction.RESUME), now=NOW)
    control.apply(issue("c", BotAction.RESUME), now=NOW)
    assert control.paused("a") is None and control.paused("c") is None
    assert control.paused_bots == 1
    assert control.applied == 6


def test_cancel_by_time_keeps_the_widest_rule_and_spares_other_bots() -> None:
    control = BotControl()
    control.apply(issue("a", BotAction.CANCEL, before=NOW - timedelta(hours=1)), now=NOW)
    control.apply(issue("a", BotAction.CANCEL, before=NOW - timedelta(hours=2)), now=NOW)
    request = str(uuid.uuid4())
    assert control.cancelling("a", request, NOW - timedelta(minutes=90)) is not None
    assert control.cancelling("a", request, NOW - timedelta(minutes=30)) is None
    assert control.cancelling("b", request, NOW - timedelta(hours=5)) is None


def test_cancel_by_request_matches_those_ids_at_any_age() -> None:
    control = BotControl()
    wanted, other = str(uuid.uuid4()), str(uuid.uuid4())
    control.apply(issue("a", BotAction.CANCEL, request_ids=[wanted]), now=NOW)
    assert control.cancelling("a", wanted, NOW + timedelta(days=1)) is not None
    assert control.cancelling("a", other, NOW - timedelta(days=1)) is None


def test_rules_older_than_the_requests_retention_are_dropped() -> None:
    control = BotControl(rule_ttl_s=3600)
    old = issue("a", BotAction.CANCEL, now=NOW - timedelta(hours=2))
    control.apply(old, now=NOW - timedelta(hours=2))
    assert control.cancelling("a", str(uuid.uuid4()), NOW - timedelta(hours=3)) is not None
    control.apply(issue("a", BotAction.PAUSE), now=NOW)
    assert control.cancelling("a", str(uuid.uuid4()), NOW - timedelta(hours=3)) is None
    assert control.paused("a") is not None


async def test_changed_wakes_the_bots_waiting_heads_on_its_next_command_only() -> None:
    control = BotControl()
    control.apply(issue("a", BotAction.PAUSE), now=NOW)
    waiting = control.changed("a")
    assert control.changed("a") is waiting
    control.apply(issue("b", BotAction.RESUME), now=NOW)
    await asyncio.sleep(0)
    assert not waiting.done()
    control.apply(issue("a", BotAction.RESUME), now=NOW)
    assert waiting.done()
    assert control.changed("a") is not waiting
