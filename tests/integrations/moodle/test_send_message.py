"""moodle_send_message against a fake Moodle site over a real loopback socket."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.errors import AuthError, IntegrationError, InvalidConfigError, PermanentError
from integrations.moodle.send_message import FUNCTION, MoodleSendMessageIntegration
from integrations.moodle.testing import FakeMoodle
from integrations.outcome import classify
from support.integrations import Run

SEND = {"user_id": 5, "text": "x"}


async def test_message_is_delivered_with_the_token_in_the_body_only(
    run: Run, fake: FakeMoodle, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({"user_id": 5, "text": "Hello & welcome"})
    [message] = fake.messages
    assert (message.from_user_id, message.to_user_id, message.text) == (2, 5, "Hello & welcome")
    assert returned["response"]["result"] == {
        "message_id": message.id,
        "to_user_id": 5,
        "conversation_id": message.conversation_id,
        "from_user_id": 2,
        "time_created": message.time_created,
    }
    [call] = fake.calls
    assert call.method == "POST"
    assert call.params == {
        "wstoken": api_key,
        "wsfunction": "core_message_send_instant_messages",
        "moodlewsrestformat": "json",
        "messages[0][touserid]": "5",
        "messages[0][text]": "Hello & welcome",
    }
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert resolver.calls == [(bot_id, "moodle", "api_key")]
    assert api_key not in repr(returned)


async def test_text_format_and_a_site_url_with_a_trailing_slash(
    run: Run, fake: FakeMoodle, credentials: dict[str, Any], make_resolver: Any
) -> None:
    slashed = make_resolver({**credentials, "site_url": fake.url + "/"})
    await run({"user_id": 3, "text": "**hi**", "text_format": "markdown"}, credentials=slashed)
    assert fake.calls[0].params["messages[0][textformat]"] == "4"
    assert fake.messages[0].text_format == 4


@pytest.mark.parametrize(
    ("user_id", "private", "reason"),
    [(99, False, "doesn't exist"), (4, True, "unable to message")],
)
async def test_a_refused_message_inside_the_result_is_permanent(
    run: Run, fake: FakeMoodle, user_id: int, private: bool, reason: str
) -> None:
    if private:
        fake.add_user(user_id, can_be_messaged=False)
    with pytest.raises(PermanentError) as caught:
        await run({**SEND, "user_id": user_id})
    assert reason in caught.value.message
    assert fake.calls[0].answer[0]["msgid"] == -1  # Moodle said no inside an HTTP 200
    assert fake.calls[0].status == 200
    assert fake.messages == []


async def test_text_over_4096_bytes_is_rejected_before_any_call(run: Run, fake: FakeMoodle) -> None:
    await run({"user_id": 5, "text": "Ж" * 2048})  # 4096 bytes
    too_long = "Ж" * 3000  # 3000 chars pass the schema, but are 6000 bytes
    with pytest.raises(InvalidConfigError, match=r"\$\.text: 6000 bytes"):
        await run({"user_id": 5, "text": too_long})
    assert len(fake.calls) == 1


# invalidtoken (401), accessexception (403) and sitemaintenance (503) are the contract's cases.
@pytest.mark.parametrize(
    ("kind", "expected", "code"),
    [
        ("no_permission", AuthError, 403),
        ("invalid_parameter", InvalidConfigError, 400),
        ("messaging_disabled", PermanentError, 400),
        ("ws_disabled", PermanentError, 403),  # a bare 403: not the token's fault
        ("html", PermanentError, 502),  # a login page: the wrong site_url
    ],
)
async def test_moodle_errors_become_typed_errors(
    run: Run,
    fake: FakeMoodle,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[IntegrationError],
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx too: the token is in the body, never in a URL
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await run(SEND)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert classify(error).maybe_executed is False
    if kind not in ("ws_disabled", "html"):
        assert fake.calls[0].status == 200  # the real site reports these inside a 200
        assert fake.calls[0].answer["errorcode"] in error.message
    assert "Moodle request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text
    assert (await run({**SEND, "text": "after"}))["response"]["ok"] is True  # one-shot fault


async def test_invalid_parameter_names_the_argument_from_debuginfo(
    action: MoodleSendMessageIntegration,
    fake: FakeMoodle,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    site = await action.read_credentials(resolver, bot_id, logger)
    assert site is not None
    args = {"messages[0][touserid]": "5"}  # no text
    with pytest.raises(InvalidConfigError) as caught:
        await action.web_service(site, FUNCTION, args, logger=logger)
    assert "invalidparameter" in caught.value.message
    assert "Missing required key in single structure: text" in caught.value.message
    assert fake.calls[0].status == 200


async def test_a_rejected_credential_is_auth_with_the_providers_reason(
    run: Run,
    fake: FakeMoodle,
    logger: BotLogger,
    credentials: dict[str, Any],
    make_resolver: Any,
) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    with pytest.raises(AuthError, match="invalidtoken") as caught:
        await run(SEND, credentials=make_resolver({**credentials, "token": wrong}))
    assert fake.calls[0].token == wrong
    assert wrong not in repr(classify(caught.value, secrets=logger.secrets))


async def test_a_function_missing_from_the_tokens_service_is_an_access_error(
    run: Run, fake: FakeMoodle, credentials: dict[str, Any], make_resolver: Any
) -> None:
    limited = "limited-token-0000000000000000000"
    fake.add_token(limited, functions=["core_webservice_get_site_info"])
    with pytest.raises(AuthError, match="add core_message_send_instant_messages") as caught:
        await run(SEND, credentials=make_resolver({**credentials, "token": limited}))
    assert caught.value.code == 403


@pytest.mark.parametrize(
    ("creds", "match"),
    [
        ({"site_url": "https://lms.example.edu"}, "no 'token'"),
        ({"token": "t" * 32}, "no valid 'site_url'"),
        ({"site_url": "ftp://lms.example.edu", "token": "t" * 32}, "no valid 'site_url'"),
        ({"site_url": "lms.example.edu", "token": "t" * 32}, "no valid 'site_url'"),
        ({"site_url": "https://lms.example.edu/?x=1", "token": "t" * 32}, "plain base URL"),
    ],
)
async def test_bad_credentials_are_auth_errors_before_any_call(
    run: Run, fake: FakeMoodle, make_resolver: Any, creds: dict[str, Any], match: str
) -> None:
    with pytest.raises(AuthError, match=match):
        await run(SEND, credentials=make_resolver(creds))
    assert fake.calls == []


def test_metadata_says_a_resend_is_a_second_message() -> None:
    meta = MoodleSendMessageIntegration().metadata
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("non_idempotent", False)
    assert meta.on_unknown_outcome.value == "reexecute"  # a rare duplicate beats a silent loss
    assert meta.rate_limits == ()
