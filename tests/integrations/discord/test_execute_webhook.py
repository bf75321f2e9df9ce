"""discord_execute_webhook against the fake Discord API over a real loopback socket."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations import errors
from integrations.base import RateLimit, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.discord.execute_webhook import METADATA, DiscordExecuteWebhookIntegration
from integrations.discord.testing import FakeDiscord
from integrations.outcome import OutcomeCategory, classify
from processors.logs import CHATTY_LOGGERS
from support.integrations import Run, http_clients

Resolver = Callable[[dict[str, Any] | None], Any]
HELLO = {"content": "hello"}


@pytest.fixture
def worker_log_levels() -> Iterator[None]:
    """Everything at DEBUG except the per-request client loggers, which the worker quiets
    (``processors.logs.CHATTY_LOGGERS``): httpx logs each request URL, and a webhook URL holds
    the token in its path."""
    saved = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def test_posts_to_v10_and_returns_the_stored_message(
    run: Run, fake: FakeDiscord, resolver: Any, bot_id: str, webhook: tuple[str, str]
) -> None:
    returned = await run(HELLO)
    [call] = fake.calls
    assert (call.api_version, call.webhook_id, call.token) == (10, *webhook)
    assert call.query == {"wait": "true"}
    assert call.body == {"content": "hello", "allowed_mentions": {"parse": ["users", "roles"]}}
    assert resolver.calls == [(bot_id, "discord", "api_key")]
    [message] = fake.messages()
    assert returned["response"]["result"] == {
        "confirmed": True,
        "message_id": message["id"],
        "channel_id": "199737254929760256",
        "webhook_id": webhook[0],
        "timestamp": message["timestamp"],
        "content": "hello",
        "embeds": 0,
    }
    assert webhook[1] not in repr(returned)


async def test_every_option_reaches_discord(run: Run, fake: FakeDiscord) -> None:
    embed = {
        "title": "Order #42",
        "description": "Paid",
        "url": "https://example.com/o/42",
        "color": 0x5865F2,
        "fields": [{"name": "Total", "value": "10 €", "inline": True}],
        "footer": {"text": "shop"},
        "author": {"name": "Bot"},
    }
    config = {
        "content": "@everyone look",
        "embeds": [embed],
        "username": "Shop bot",
        "avatar_url": "https://example.com/a.png",
        "tts": False,
        "allowed_mentions": {"parse": ["everyone"]},
        "flags": 4096,
        "thread_id": "1234567890",
    }
    result = (await run(config))["response"]["result"]
    [call] = fake.calls
    assert call.query == {"wait": "true", "thread_id": "1234567890"}
    assert call.body == {k: v for k, v in config.items() if k != "thread_id"}
    assert (result["channel_id"], result["embeds"]) == ("1234567890", 1)  # the thread's


async def test_wait_false_is_accepted_unconfirmed(run: Run, fake: FakeDiscord) -> None:
    returned = await run({"content": "x", "wait": False})
    assert fake.calls[0].status == 204
    assert returned == {
        "response": {"ok": True, "result": {"confirmed": False, "message_id": None}}
    }
    assert len(fake.messages()) == 1


async def test_id_and_token_credentials_and_malformed_ones(
    run: Run, fake: FakeDiscord, make_resolver: Resolver, webhook: tuple[str, str]
) -> None:
    webhook_id, token = webhook
    by_parts = make_resolver({"webhook_id": int(webhook_id), "webhook_token": token})
    assert (await run(HELLO, credentials=by_parts))["response"]["ok"] is True
    for bad in (
        {"webhook_url": f"https://discord.com/channels/1/{token}"},
        {"webhook_id": "abc", "webhook_token": token},
        {"webhook_id": webhook_id},
        {"token": token},
    ):
        with pytest.raises(errors.AuthError) as caught:
            await run(HELLO, credentials=make_resolver(bad))
        assert token not in caught.value.message
        assert "webhook_url" in caught.value.message  # says how to store them
    assert len(fake.calls) == 1


async def test_embeds_over_6000_chars_are_rejected_before_any_call(
    run: Run, fake: FakeDiscord
) -> None:
    # Each embed is within its own limits (the schema passes); together they are not.
    embeds = [{"title": "t" * 256, "description": "d" * 4000}, {"description": "d" * 2000}]
    with pytest.raises(errors.InvalidConfigError, match=r"\$\.embeds.*6256.*6000"):
        await run({"embeds": embeds})
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "retry_after", "parameters"),
    [
        # The body's float seconds, not the rounded header (65).
        ("rate_limit", 64.57, {"global": False, "scope": "user", "retry_after": 65}),
        ("global_rate_limit", 0.25, {"global": True, "scope": "global"}),
        ("cloudflare_ban", 30, {"scope": "cloudflare"}),  # HTML, only a Retry-After header
    ],
)
async def test_rate_limits_wait_the_seconds_discord_says(
    run: Run, fake: FakeDiscord, kind: str, retry_after: float, parameters: dict[str, Any]
) -> None:
    fake.inject(kind, retry_after=retry_after)  # type: ignore[arg-type]
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(HELLO)
    assert caught.value.retry_after_s == pytest.approx(retry_after)
    assert caught.value.parameters.items() >= parameters.items()
    outcome = classify(caught.value)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == pytest.approx(retry_after)


async def test_unversioned_base_url_reports_milliseconds_and_is_converted(
    run: Run, fake: FakeDiscord
) -> None:
    # An operator who pastes Discord's unversioned URL as the base gets milliseconds back.
    fake.inject("rate_limit", retry_after=1.5)
    async with http_clients("discord", base_url=fake.unversioned_url) as clients:
        with pytest.raises(errors.RateLimitedError) as caught:
            await run(HELLO, integration=DiscordExecuteWebhookIntegration(clients))
    assert fake.calls[0].api_version is None
    assert caught.value.retry_after_s == pytest.approx(1.5)  # 1500 ms on the wire


async def test_invalid_form_body_names_the_json_path(
    action: DiscordExecuteWebhookIntegration, resolver: Any, bot_id: str, logger: BotLogger
) -> None:
    # Straight to execute (as a caller that skipped validation): Discord's own check answers.
    with pytest.raises(errors.InvalidConfigError) as caught:
        await action.execute({"content": "x" * 2001}, resolver, bot_id, logger)
    assert caught.value.code == 400
    assert caught.value.errors == ("$.content: Must be 2000 or fewer in length.",)
    assert "50035" in caught.value.message
    with pytest.raises(errors.InvalidConfigError, match=r"50006.*empty message"):
        await action.execute({"content": "   "}, resolver, bot_id, logger)


async def test_unknown_webhook_and_wrong_token_as_discord_answers_them(
    run: Run, fake: FakeDiscord, make_resolver: Resolver, webhook: tuple[str, str]
) -> None:
    webhook_id, token = webhook
    fake.accept_any_webhook = False  # only the bot's webhook exists
    fake.add_webhook(webhook_id, token)
    unknown = make_resolver({"webhook_id": "999", "webhook_token": token})
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=unknown)
    assert caught.value.code == 404
    assert "deleted" in caught.value.message
    assert classify(caught.value).maybe_executed is False  # Discord answered: nothing posted
    wrong = make_resolver({"webhook_id": webhook_id, "webhook_token": "not-the-token"})
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=wrong)
    assert caught.value.code == 401
    assert caught.value.message.startswith(
        f"Discord POST webhooks/{webhook_id}: HTTP 401 50027: Invalid Webhook Token"
    )
    assert [c.status for c in fake.calls] == [404, 401]


async def test_token_never_reaches_messages_or_logs(
    run: Run,
    fake: FakeDiscord,
    logger: BotLogger,
    webhook: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
    worker_log_levels: None,
) -> None:
    webhook_id, token = webhook
    caplog.set_level(logging.DEBUG, logger=logger.logger.name)
    caplog.handler.addFilter(SecretRedactingFilter())
    outcomes = []
    faults: list[Callable[[], object]] = [
        lambda: fake.inject("invalid_token"),
        lambda: fake.inject("unknown_webhook"),
        lambda: fake.inject("rate_limit"),
        lambda: fake.fail_next(500),
        fake.drop_next,
    ]
    for fault in faults:
        fault()
        with pytest.raises(errors.IntegrationError) as caught:
            await run(HELLO)
        outcomes.append(classify(caught.value, secrets=logger.secrets))
        assert token not in str(caught.value)
    await run({"content": "fine"})
    assert "Discord request failed" in caplog.text
    assert "discord message posted" in caplog.text
    assert f"webhook_id={webhook_id}" in caplog.text  # the id is not a secret: kept readable
    assert token not in caplog.text
    assert all(token not in repr(o) for o in outcomes)


def test_metadata_declares_a_resend_a_second_message_and_a_5_per_2s_webhook_bucket() -> None:
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert not METADATA.supports_idempotency_key
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE
    assert METADATA.rate_limits == (RateLimit(scope="credential", limit=5, period_s=2.0),)
