"""The typed events and the seed's response envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas import (
    ORDERING_KEY_HEADER,
    IntegrationRequest,
    ResponseEnvelope,
    ResultStatus,
    ordering_key_problem,
    utc_now,
)


def test_envelopes_have_the_seed_shape() -> None:
    ok = ResponseEnvelope.success({"message_id": 42, "text": "Привет"})
    assert json.loads(ok.to_json()) == {"ok": True, "result": {"message_id": 42, "text": "Привет"}}
    assert "Привет" in ok.to_json()  # readable UTF-8, not \\u escapes
    failed = ResponseEnvelope.failure(401, "Credentials not found")
    assert json.loads(failed.to_json()) == {
        "ok": False,
        "error_code": 401,
        "description": "Credentials not found",
    }
    assert ResponseEnvelope.from_json(ok.to_json()) == ok
    assert ResponseEnvelope.from_json(failed.to_json()) == failed
    seed_return = {"response": {"ok": False, "error_code": 401, "description": "nope"}}
    assert ResponseEnvelope.from_mapping(seed_return["response"]).error_code == 401


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('{"result": 1}', 'needs a boolean "ok"'),
        ('{"ok": "yes"}', 'needs a boolean "ok"'),
        ('{"ok": false, "error_code": "401"}', '"error_code" must be an integer'),
        ('{"ok": false, "error_code": true}', '"error_code" must be an integer'),
        ('{"ok": false, "description": 5}', '"description" must be a string'),
    ],
)
def test_malformed_envelopes(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResponseEnvelope.from_json(text)


def test_unserialisable_result_fails_loudly() -> None:
    with pytest.raises(TypeError):
        ResponseEnvelope.success({"when": datetime.now(UTC)}).to_json()


def test_new_request_and_retry() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    request = IntegrationRequest.new(
        bot_id="b", integration_id="weather_now", config='{"city": "Kazan"}', now=now
    )
    assert request.created_at == now
    assert request.config_dict() == {"city": "Kazan"}
    later = request.retry(not_before=now + timedelta(seconds=5))
    assert (later.attempt, later.request_id) == (2, request.request_id)
    assert later.not_before == now + timedelta(seconds=5)
    other = IntegrationRequest.new(bot_id="b", integration_id="weather_now", config={})
    assert other.request_id != request.request_id
    with pytest.raises(ValueError, match="config must be a JSON object"):
        IntegrationRequest.new(bot_id="b", integration_id="x", config="[1]").config_dict()


def test_utc_now_is_aware_and_millisecond_precise() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0


def test_status_is_a_str_enum() -> None:
    assert ResultStatus("DUPLICATE") is ResultStatus.DUPLICATE
    assert f"{ResultStatus.EXPIRED}" == "EXPIRED"


def test_ordering_key_problems_name_the_value_and_the_fix() -> None:
    assert ordering_key_problem(None, None) is None
    assert ordering_key_problem("chat-1", None) is None  # ran in the bot's one order: kept
    assert ordering_key_problem("chat-1", b"chat-1") is None
    assert ordering_key_problem("я" * 128, None) is None  # 256 bytes of UTF-8
    too_long = ordering_key_problem("я" * 129, None)
    assert too_long is not None and "has 258 bytes; it needs 1 to 256" in too_long
    empty = ordering_key_problem("", None)
    assert empty is not None and "has 0 bytes" in empty
    other = ordering_key_problem("chat-1", b"chat-2")
    assert other is not None and f"{ORDERING_KEY_HEADER} header is 'chat-2'" in other
    alone = ordering_key_problem(None, b"chat-2")
    assert alone is not None and "publish both or neither" in alone
