"""Operators' commands on one bot's actions: the records of the commands topic.

``actionstream bots pause|resume|cancel`` publish a :class:`BotCommand`, keyed by ``bot_id``, to
the commands topic (``ACTIONSTREAM_TOPICS__COMMANDS``); every worker follows that topic from its
beginning (:mod:`processors.control_feed`) and applies each command within a fetch wait. Each
worker that applies a command live answers with a :class:`CommandApplied` on the same topic,
saying what it found: the bot's requests still executing (they finish) and those waiting. The
topic is the audit trail: who, when, what, and where it took effect.

Why a Kafka topic and not Redis: the topic is durable and ordered per bot, so a restarted
worker rebuilds the same state by reading it, commands reach every worker through a long poll
(no per-request Redis read on the hot path, no polling), and the command log is the audit
record, kept as long as the topic (forever by default: commands are few and small).

Records are JSON (``{"kind": "command", "v": 1, ...}``): few, written and read only by our
own tools, readable with any console consumer. Decoding is strict and bounded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from schemas import bot_id_problem, utc_now

__all__ = [
    "MAX_COMMAND_BYTES",
    "MAX_REQUEST_IDS",
    "BotAction",
    "BotCommand",
    "CommandApplied",
    "CommandError",
    "ControlRecord",
    "decode_control",
    "encode_control",
]

MAX_COMMAND_BYTES = 256 * 1024
MAX_REQUEST_IDS = 1_000
MAX_TEXT = 500
MAX_LISTED = 50
"""Request ids a :class:`CommandApplied` lists (it counts them all)."""


class CommandError(ValueError):
    """A command record that is not one: says which field and why."""


class BotAction(StrEnum):
    """What a command does to a bot's actions."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class BotCommand:
    """One operator command on one bot.

    ``cancel`` matches the bot's requests created before ``before`` (when set) and, when
    ``request_ids`` is not empty, only those requests.
    """

    bot_id: str
    action: BotAction
    issued_by: str
    issued_at: datetime
    command_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reason: str = ""
    before: datetime | None = None
    request_ids: frozenset[str] = frozenset()

    @classmethod
    def new(
        cls,
        bot_id: str,
        action: BotAction,
        *,
        issued_by: str,
        reason: str = "",
        before: datetime | None = None,
        request_ids: Iterable[str] = (),
        now: datetime | None = None,
    ) -> BotCommand:
        """A checked command; ``cancel`` without a filter cancels what was created until now."""
        issued_at = now or utc_now()
        ids = frozenset(_request_id(value) for value in request_ids)
        if action is BotAction.CANCEL and before is None and not ids:
            before = issued_at
        command = cls(
            bot_id=bot_id, action=action, issued_by=issued_by, issued_at=issued_at,
            reason=reason, before=before, request_ids=ids,
        )  # fmt: skip
        _check(command)
        return command

    def cancels(self, request_id: str, created_at: datetime) -> bool:
        """Whether this command cancels the request (``request_id`` in canonical UUID form)."""
        if self.action is not BotAction.CANCEL:
            return False
        if self.before is not None and created_at >= self.before:
            return False
        return not self.request_ids or request_id in self.request_ids

    def what(self) -> str:
        """What it does, in a few words: ``pause``, ``cancel 3 request(s) created before …``."""
        if self.action is not BotAction.CANCEL:
            return self.action.value
        parts = []
        if self.request_ids:
            parts.append(f"{len(self.request_ids)} request(s)")
        if self.before is not None:
            parts.append(f"created before {self.before.isoformat()}")
        return f"cancel {' '.join(parts)}"

    def describe(self) -> str:
        """One line for people: what, by whom, when, why."""
        why = f": {self.reason}" if self.reason else ""
        return f"{self.what()} by {self.issued_by} at {self.issued_at.isoformat()}{why}"


@dataclass(frozen=True, slots=True)
class CommandApplied:
    """A worker's answer to a command it applied: what it found of the bot's actions."""

    command_id: str
    bot_id: str
    worker_id: str
    applied_at: datetime
    executing: tuple[str, ...] = ()
    """Requests of the bot that had started and will finish (at most :data:`MAX_LISTED`)."""
    executing_count: int = 0
    waiting: int = 0
    """The bot's records held by this worker that had not started."""


ControlRecord = BotCommand | CommandApplied


def _request_id(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        shown = str(value)[:60]
        raise CommandError(f"request id {shown!r} is not a UUID; pass a request_id") from None


def _check(command: BotCommand) -> None:
    problem = bot_id_problem(command.bot_id)
    if problem is not None:
        raise CommandError(problem)
    if len(command.request_ids) > MAX_REQUEST_IDS:
        raise CommandError(
            f"{len(command.request_ids)} request ids in one command; at most {MAX_REQUEST_IDS}: "
            "split them, or cancel by time with --before"
        )
    for name in ("issued_by", "reason"):
        value = getattr(command, name)
        if len(value) > MAX_TEXT:
            raise CommandError(f"{name} has {len(value)} characters; at most {MAX_TEXT}")
    if not command.issued_by:
        raise CommandError("issued_by is empty: say who issues the command (--by)")
    if command.action is not BotAction.CANCEL and (command.before or command.request_ids):
        raise CommandError(f"{command.action.value} takes no --before or --request")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def encode_control(record: ControlRecord) -> bytes:
    """The JSON bytes of a commands-topic record."""
    data: dict[str, Any]
    if isinstance(record, BotCommand):
        data = {
            "kind": "command", "v": 1, "command_id": record.command_id,
            "bot_id": record.bot_id, "action": record.action.value,
            "issued_by": record.issued_by, "issued_at": _iso(record.issued_at),
            "reason": record.reason, "before": _iso(record.before),
            "request_ids": sorted(record.request_ids),
        }  # fmt: skip
    else:
        data = {
            "kind": "applied", "v": 1, "command_id": record.command_id,
            "bot_id": record.bot_id, "worker_id": record.worker_id,
            "applied_at": _iso(record.applied_at), "executing": list(record.executing),
            "executing_count": record.executing_count, "waiting": record.waiting,
        }  # fmt: skip
    return json.dumps(data, separators=(",", ":")).encode()


def decode_control(data: bytes | None) -> ControlRecord:
    """A commands-topic record, or :class:`CommandError` naming what is wrong."""
    if not data:
        raise CommandError("empty record on the commands topic")
    if len(data) > MAX_COMMAND_BYTES:
        raise CommandError(f"a {len(data)}-byte record; commands are at most {MAX_COMMAND_BYTES}")
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise CommandError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("v") != 1:
        raise CommandError("not a version 1 commands-topic record")
    try:
        if raw.get("kind") == "command":
            command = BotCommand(
                bot_id=str(raw["bot_id"]), action=BotAction(raw["action"]),
                issued_by=str(raw["issued_by"]), issued_at=_time(raw["issued_at"]),
                command_id=str(raw["command_id"]), reason=str(raw.get("reason") or ""),
                before=_maybe_time(raw.get("before")),
                request_ids=frozenset(_request_id(v) for v in raw.get("request_ids") or ()),
            )  # fmt: skip
            _check(command)
            return command
        if raw.get("kind") == "applied":
            return CommandApplied(
                command_id=str(raw["command_id"]), bot_id=str(raw["bot_id"]),
                worker_id=str(raw["worker_id"]), applied_at=_time(raw["applied_at"]),
                executing=tuple(str(v) for v in raw.get("executing") or ())[:MAX_LISTED],
                executing_count=int(raw.get("executing_count") or 0),
                waiting=int(raw.get("waiting") or 0),
            )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"a malformed command record ({type(exc).__name__}: {exc})") from None
    raise CommandError(f"unknown record kind {str(raw.get('kind'))[:40]!r}")


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return moment.astimezone(UTC)
