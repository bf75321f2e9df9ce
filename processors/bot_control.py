"""What operators' commands say about each bot now: paused or not, and what is cancelled.

:class:`BotControl` is built from the commands topic (:mod:`processors.control_feed` applies
every :class:`~topics.bot_commands.BotCommand` in topic order) and read by the processor before
each attempt: two dictionary look-ups, no I/O. A paused bot's heads wait on :meth:`changed`,
which wakes them on the bot's next command (a resume, or a cancel that may concern them).

Cancellations are rules, not a list of records: a ``cancel`` matches the bot's requests created
before its ``before`` time (or only the listed request ids), whether they are queued here
already or still in Kafka, on this worker or on the one that gets the partition next. Rules
older than ``rule_ttl_s`` (default: the requests topic's 7 days of retention) are dropped: no
request they could match is left.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import utc_now
from topics.bot_commands import BotAction, BotCommand


@dataclass
class _BotState:
    paused: BotCommand | None = None
    cancel_before: BotCommand | None = None
    """The cancel-by-time command with the latest ``before`` (earlier ones match less)."""
    by_request: dict[str, BotCommand] = field(default_factory=dict)
    """Cancel commands with request ids, by request id."""
    changed: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return (
            self.paused is None
            and self.cancel_before is None
            and not self.by_request
            and self.changed is None
        )


class BotControl:
    """The pause and cancel state of every bot, as the commands topic says."""

    def __init__(self, *, rule_ttl_s: float = 7 * 24 * 3600) -> None:
        self._bots: dict[str, _BotState] = {}
        self._paused = 0
        self._rule_ttl = timedelta(seconds=rule_ttl_s)
        self.applied = 0

    def apply(self, command: BotCommand, *, now: datetime | None = None) -> None:
        """Take a command into the state, and wake the bot's waiting heads."""
        state = self._bots.setdefault(command.bot_id, _BotState())
        if command.action is BotAction.PAUSE:
            if state.paused is None:
                self._paused += 1
            state.paused = command
        elif command.action is BotAction.RESUME:
            if state.paused is not None:
                self._paused -= 1
            state.paused = None
        elif command.request_ids:
            for request_id in command.request_ids:
                state.by_request[request_id] = command
        elif command.before is not None:
            latest = state.cancel_before
            if latest is None or latest.before is None or command.before > latest.before:
                state.cancel_before = command
        self.applied += 1
        self._expire(state, now or utc_now())
        if state.changed is not None:
            if not state.changed.done():
                state.changed.set_result(None)
            state.changed = None
        if state.empty():
            del self._bots[command.bot_id]

    def paused(self, bot_id: str) -> BotCommand | None:
        """The command that paused the bot, or ``None``."""
        state = self._bots.get(bot_id)
        return None if state is None else state.paused

    def cancelling(self, bot_id: str, request_id: str, created_at: datetime) -> BotCommand | None:
        """The command that cancels this request, or ``None``."""
        state = self._bots.get(bot_id)
        if state is None:
            return None
        command = state.by_request.get(request_id)
        if command is not None and command.cancels(request_id, created_at):
            return command
        command = state.cancel_before
        if command is not None and command.cancels(request_id, created_at):
            return command
        return None

    def changed(self, bot_id: str) -> asyncio.Future[None]:
        """A future done at the bot's next command (await it through ``asyncio.shield``)."""
        state = self._bots.setdefault(bot_id, _BotState())
        if state.changed is None:
            state.changed = asyncio.get_running_loop().create_future()
        return state.changed

    @property
    def paused_bots(self) -> int:
        return self._paused

    def _expire(self, state: _BotState, now: datetime) -> None:
        oldest = now - self._rule_ttl
        if state.cancel_before is not None and state.cancel_before.issued_at < oldest:
            state.cancel_before = None
        stale = [rid for rid, command in state.by_request.items() if command.issued_at < oldest]
        for request_id in stale:
            del state.by_request[request_id]
