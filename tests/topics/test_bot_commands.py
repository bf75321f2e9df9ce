"""Commands-topic records: they round-trip, bad commands are refused naming the field, and any
bytes on the topic decode to a record or a CommandError, never to anything else."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topics.bot_commands import (
    MAX_COMMAND_BYTES,
    MAX_REQUEST_IDS,
    BotAction,
    BotCommand,
    CommandApplied,
    CommandError,
    decode_control,
    encode_control,
)

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_a_command_and_an_answer_round_trip() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    command = BotCommand.new(
        "bot-1", BotAction.CANCEL, issued_by="ops@host", reason="runaway loop",
        before=NOW - timedelta(minutes=5), request_ids=ids, now=NOW,
    )  # fmt: skip
    assert decode_control(encode_control(command)) == command
    answer = CommandApplied(
        command_id=command.command_id, bot_id="bot-1", worker_id="w1", applied_at=NOW,
        executing=(ids[0],), executing_count=1, waiting=7,
    )  # fmt: skip
    assert decode_control(encode_control(answer)) == answer


def test_cancel_without_a_filter_cancels_what_was_created_until_it_was_issued() -> None:
    command = BotCommand.new("bot-1", BotAction.CANCEL, issued_by="ops", now=NOW)
    assert command.before == NOW
    assert command.cancels(str(uuid.uuid4()), NOW - timedelta(seconds=1))
    assert not command.cancels(str(uuid.uuid4()), NOW)
    assert "cancel created before 2026-12-04T10:00:00+00:00 by ops" in command.describe()


def test_cancel_by_request_matches_only_those_requests() -> None:
    wanted = str(uuid.uuid4())
    command = BotCommand.new(
        "bot-1", BotAction.CANCEL, issued_by="ops", request_ids=[wanted.upper()], now=NOW
    )
    assert command.before is None
    assert command.cancels(wanted, NOW + timedelta(days=1))
    assert not command.cancels(str(uuid.uuid4()), NOW - timedelta(days=1))
    pause = BotCommand.new("bot-1", BotAction.PAUSE, issued_by="ops", now=NOW)
    assert not pause.cancels(wanted, NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bot_id": "../etc"}, "bot_id '../etc' is not an id"),
        ({"issued_by": ""}, "issued_by is empty: say who issues the command (--by)"),
        ({"reason": "x" * 501}, "reason has 501 characters; at most 500"),
        ({"request_ids": ["not-a-uuid"]}, "request id 'not-a-uuid' is not a UUID"),
        ({"action": BotAction.PAUSE, "before": NOW}, "pause takes no --before or --request"),
        (
            {"request_ids": [str(uuid.uuid4()) for _ in range(MAX_REQUEST_IDS + 1)]},
            f"{MAX_REQUEST_IDS + 1} request ids in one command; at most {MAX_REQUEST_IDS}",
        ),
    ],
)
def test_a_bad_command_is_refused_naming_the_field(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "bot_id": "bot-1", "action": BotAction.CANCEL, "issued_by": "ops", **kwargs
    }  # fmt: skip
    with pytest.raises(CommandError) as refused:
        BotCommand.new(
            str(arguments.pop("bot_id")),
            arguments.pop("action"),  # type: ignore[arg-type]
            **arguments,  # type: ignore[arg-type]
        )
    assert message in str(refused.value)


def _record(**changes: object) -> bytes:
    data = json.loads(encode_control(BotCommand.new("bot-1", BotAction.PAUSE, issued_by="ops")))
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "empty record"),
        (b"", "empty record"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a version 1"),
        (_record(v=2), "not a version 1"),
        (_record(kind="reboot"), "unknown record kind 'reboot'"),
        (_record(action="explode"), "malformed command record"),
        (_record(issued_at="2026-12-04T10:00:00"), "has no time zone"),
        (_record(issued_at=None), "malformed command record"),
        (_record(bot_id="a b"), "bot_id 'a b' is not an id"),
        (_record(request_ids=[1]), "request id '1' is not a UUID"),
        (b"{" + b" " * MAX_COMMAND_BYTES + b"}", f"commands are at most {MAX_COMMAND_BYTES}"),
    ],
)
def test_garbage_on_the_topic_is_a_command_error(data: bytes | None, message: str) -> None:
    with pytest.raises(CommandError) as refused:
        decode_control(data)
    assert message in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "kind",
                            "v",
                            "bot_id",
                            "action",
                            "issued_by",
                            "issued_at",
                            "command_id",
                            "before",
                            "request_ids",
                            "worker_id",
                            "applied_at",
                            "executing",
                            "waiting",
                        ]
                    ),
                    inner,
                    max_size=8,
                )
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_any_bytes_decode_to_a_record_or_a_command_error(data: bytes) -> None:
    try:
        decoded = decode_control(data)
    except CommandError:
        return
    assert isinstance(decoded, BotCommand | CommandApplied)
