"""telegram_send_message against the fake Bot API over a real loopback socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Message

from integrations import errors
from integrations.base import UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.telegram.client import TelegramClientPool
from integrations.telegram.send_message import METADATA, TelegramSendMessageIntegration
from integrations.telegram.testing import FakeTelegram
from processors.settings import TelegramSettings
from support.resolvers import StubResolver

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_ID = "6f1c2a9e-0000-4000-8000-000000000001"
CREDENTIALS = {BOT_ID: {"token": TOKEN}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def pool(fake: FakeTelegram) -> AsyncIterator[TelegramClientPool]:
    settings = TelegramSettings(base_url=fake.base_url, base_file_url=fake.base_file_url)
    async with TelegramClientPool(settings) as client_pool:
        yield client_pool


@pytest.fixture
def action(pool: TelegramClientPool) -> TelegramSendMessageIntegration:
    return TelegramSendMessageIntegration(pool)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.telegram", bot_id=BOT_ID, integration_id="telegram_send_message")


async def send(
    action: TelegramSendMessageIntegration, config: dict[str, Any], logger: BotLogger
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, StubResolver.per_bot(CREDENTIALS), BOT_ID, logger)


async def test_message_arrives_with_token_chat_and_text(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    resolver = StubResolver.per_bot(CREDENTIALS)
    returned = await action.execute({"chat_id": 42, "text": "hello"}, resolver, BOT_ID, logger)
    [message] = fake.messages()
    assert (message.token, message.method, message.chat_id, message.text) == (
        TOKEN,
        "sendMessage",
        42,
        "hello",
    )
    assert resolver.calls == [(BOT_ID, "telegram", "api_key")]
    assert returned["response"]["ok"] is True
    result = returned["response"]["result"]
    assert result["message_id"] == 1
    assert result["chat"]["id"] == 42
    assert result["text"] == "hello"
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_every_option_reaches_telegram(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    keyboard = [
        [{"text": "Open", "url": "https://example.com"}],
        [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}],
    ]
    config = {
        "chat_id": "-100200300",
        "text": "*bold*",
        "parse_mode": "MarkdownV2",
        "disable_notification": True,
        "protect_content": True,
        "reply_markup": {"inline_keyboard": keyboard},
        "link_preview_options": {"is_disabled": False, "url": "https://example.com/p"},
        "reply_parameters": {"message_id": 5, "allow_sending_without_reply": True},
        "message_thread_id": 9,
    }
    returned = await send(action, config, logger)
    [call] = fake.messages()
    assert call.params == {
        "chat_id": -100200300,  # a numeric string becomes the integer id
        "text": "*bold*",
        "parse_mode": "MarkdownV2",
        "disable_notification": True,
        "protect_content": True,
        "reply_markup": {"inline_keyboard": keyboard},
        "link_preview_options": {"is_disabled": False, "url": "https://example.com/p"},
        "reply_parameters": {"message_id": 5, "allow_sending_without_reply": True},
        "message_thread_id": 9,
    }
    assert returned["response"]["result"]["reply_markup"] == {"inline_keyboard": keyboard}


async def test_username_chat_and_the_older_preview_flag(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    await send(
        action, {"chat_id": "@news_channel", "text": "x", "disable_web_page_preview": True}, logger
    )
    [call] = fake.messages()
    assert call.chat_id == "@news_channel"
    assert call.params["link_preview_options"] == {"is_disabled": True}


def test_metadata_is_at_most_once_within_telegrams_limits() -> None:
    meta = TelegramSendMessageIntegration().metadata
    assert meta.side_effect.value == "non_idempotent"
    assert meta.on_unknown_outcome is UnknownOutcomePolicy.REPORT  # at-most-once: never twice
    assert {(r.scope.value, r.limit, r.period_s, r.target_field) for r in meta.rate_limits} == {
        ("credential", 30, 1.0, None),
        ("target", 1, 1.0, "chat_id"),
    }


async def test_credentials_without_a_token_are_an_auth_error(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    with pytest.raises(errors.AuthError, match="no 'token'"):
        await action.execute(
            {"chat_id": 1, "text": "x"},
            StubResolver.per_bot({BOT_ID: {"key": "v"}}),
            BOT_ID,
            logger,
        )
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "options", "expected", "code"),
    [
        ("chat_not_found", {}, errors.PermanentError, 400),
        ("blocked", {}, errors.PermanentError, 403),  # not errors.AuthError: the token is fine
        # Telegram's own envelope says the method failed ("ok": false): nothing was sent.
        ("server_error", {}, errors.TransientError, 500),
        ("server_error", {"status": 502}, errors.TransientError, 502),
        ("migrate", {"migrate_to_chat_id": -1001234567890}, errors.PermanentError, 400),
        ("conflict", {}, errors.PermanentError, 409),
    ],
)
async def test_telegrams_errors_become_typed_errors(
    action: TelegramSendMessageIntegration,
    fake: FakeTelegram,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    options: dict[str, Any],
    expected: type[errors.IntegrationError],
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.telegram")
    fake.inject(kind, chat_id=77, **options)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await send(action, {"chat_id": 77, "text": "x"}, logger)
    mapped = caught.value
    assert type(mapped) is expected
    assert mapped.code == code
    if kind == "migrate":
        assert mapped.parameters == {"migrate_to_chat_id": -1001234567890}
    assert classify(mapped).maybe_executed is False  # Telegram answered: it did not send
    assert TOKEN not in str(mapped)
    assert TOKEN not in repr(classify(mapped))
    assert "Telegram request failed" in caplog.text
    assert TOKEN not in caplog.text
    await send(action, {"chat_id": 77, "text": "after"}, logger)  # one-shot fault: next one works
    assert [m.text for m in fake.messages()] == ["after"]


async def test_a_gateways_5xx_without_telegrams_envelope_may_have_been_delivered(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    html = {"Content-Type": "text/html"}
    fake.fail_next(504, body=b"<html>504 Gateway Time-out</html>", headers=html)
    with pytest.raises(errors.OutcomeUnknownError) as caught:
        await send(action, {"chat_id": 77, "text": "x"}, logger)
    assert caught.value.code == 504
    assert classify(caught.value).maybe_executed is True


async def test_429_without_parameters_is_rate_limited_by_its_retry_after_header(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    # PTB raises a bare NetworkError here: the status and header come from the backend's Answer.
    body = {"ok": False, "error_code": 429, "description": "Too Many Requests"}
    fake.fail_next(429, body=body, headers={"Retry-After": "3"})
    with pytest.raises(errors.RateLimitedError) as caught:
        await send(action, {"chat_id": 77, "text": "x"}, logger)
    assert caught.value.retry_after_s == 3


async def test_a_rejected_credential_is_auth_with_the_providers_reason(logger: BotLogger) -> None:
    async with FakeTelegram(accept_any_token=False) as fake:
        settings = TelegramSettings(base_url=fake.base_url)
        async with TelegramClientPool(settings) as pool:
            action = TelegramSendMessageIntegration(pool)
            with pytest.raises(errors.AuthError) as caught:
                await action.execute(
                    {"chat_id": 1, "text": "x"},
                    StubResolver.per_bot(CREDENTIALS),
                    BOT_ID,
                    logger,
                )
    assert fake.calls[0].status == 401
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert TOKEN not in repr(outcome)


async def test_200_concurrent_sends_over_20_tokens(fake: FakeTelegram, logger: BotLogger) -> None:
    tokens = [f"{1000 + i}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw{i:02d}" for i in range(20)]
    resolver = StubResolver.per_bot({f"bot-{i}": {"token": t} for i, t in enumerate(tokens)})
    fake.latency_s = 0.01
    settings = TelegramSettings(base_url=fake.base_url)
    async with TelegramClientPool(settings) as pool:
        action = TelegramSendMessageIntegration(pool)
        results = await asyncio.gather(
            *(
                action.execute(
                    {"chat_id": n % 7 + 1, "text": f"m{n}"}, resolver, f"bot-{n % 20}", logger
                )
                for n in range(200)
            )
        )
        assert pool.created == 20
    assert all(r["response"]["ok"] for r in results)
    assert len(fake.messages()) == 200
    for i, token in enumerate(tokens):
        assert sorted(m.text or "" for m in fake.messages(token=token)) == sorted(
            f"m{n}" for n in range(200) if n % 20 == i
        )


async def test_the_result_is_telegrams_own_message_json(
    action: TelegramSendMessageIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    # The result is the Bot API's answer as sent (PTB's parsing must not have changed it), not
    # PTB's Message rebuilt with to_dict, the fallback: that one only adds PTB's False defaults.
    keyboard = [[{"text": "Yes", "callback_data": "yes"}]]
    config = {"chat_id": 42, "text": "hi", "reply_markup": {"inline_keyboard": keyboard}}
    returned = await send(action, config, logger)
    result = returned["response"]["result"]
    [call] = fake.messages()
    assert result == call.result and result["reply_markup"] == {"inline_keyboard": keyboard}
    rebuilt = Message.de_json(call.result, None).to_dict()
    assert {k: v for k, v in rebuilt.items() if v is not False} == result


async def test_no_ptb_message_is_built_for_a_sent_message(
    action: TelegramSendMessageIntegration,
    fake: FakeTelegram,
    logger: BotLogger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Building PTB's Message cost ~12 % of a worker's CPU per message, for an object nobody read.
    def unwanted(*args: object, **kwargs: object) -> None:
        raise AssertionError("Message.de_json was called")

    monkeypatch.setattr(Message, "de_json", unwanted)
    returned = await send(action, {"chat_id": 42, "text": "hi"}, logger)
    [call] = fake.messages()
    assert returned["response"]["result"] == call.result
