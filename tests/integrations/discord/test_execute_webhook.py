"""discord_execute_webhook against the fake Discord API over a real loopback socket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.discord.execute_webhook import METADATA, DiscordExecuteWebhookIntegration
from integrations.discord.testing import FakeDiscord
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from processors.settings import EndpointSettings

Resolver = Callable[[dict[str, Any] | None], Any]


async def post(
    action: DiscordExecuteWebhookIntegration,
    config: dict[str, Any],
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_posts_to_v10_and_returns_the_stored_message(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    webhook_id: str,
    token: str,
) -> None:
    returned = await post(action, {"content": "hello"}, resolver, logger, bot_id)
    [call] = fake.calls
    assert (call.api_version, call.webhook_id, call.token) == (10, webhook_id, token)
    assert call.query == {"wait": "true"}
    assert call.body == {"content": "hello", "allowed_mentions": {"parse": ["users", "roles"]}}
    assert resolver.calls == [(bot_id, "discord", "api_key")]
    result = returned["response"]["result"]
    [message] = fake.messages()
    assert result == {
        "confirmed": True,
        "message_id": message["id"],
        "channel_id": "199737254929760256",
        "webhook_id": webhook_id,
        "timestamp": message["timestamp"],
        "content": "hello",
        "embeds": 0,
    }
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert token not in repr(returned)


async def test_every_option_reaches_discord(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
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
    returned = await post(action, config, resolver, logger, bot_id)
    [call] = fake.calls
    assert call.query == {"wait": "true", "thread_id": "1234567890"}
    assert call.body == {k: v for k, v in config.items() if k != "thread_id"}
    assert returned["response"]["result"]["channel_id"] == "1234567890"  # the thread
    assert returned["response"]["result"]["embeds"] == 1


async def test_wait_false_is_accepted_unconfirmed(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    returned = await post(action, {"content": "x", "wait": False}, resolver, logger, bot_id)
    assert fake.calls[0].status == 204
    assert returned == {
        "response": {"ok": True, "result": {"confirmed": False, "message_id": None}}
    }
    assert len(fake.messages()) == 1


async def test_id_and_token_credentials_and_malformed_ones(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    webhook_id: str,
    token: str,
) -> None:
    by_parts = make_resolver({"webhook_id": int(webhook_id), "webhook_token": token})
    returned = await post(action, {"content": "a"}, by_parts, logger, bot_id)
    assert returned["response"]["ok"] is True
    for bad in (
        {"webhook_url": f"https://discord.com/channels/1/{token}"},
        {"webhook_id": "abc", "webhook_token": token},
        {"webhook_id": webhook_id},
        {"token": token},
    ):
        with pytest.raises(AuthError) as caught:
            await action.execute({"content": "a"}, make_resolver(bad), bot_id, logger)
        assert token not in caught.value.message
        assert "webhook_url" in caught.value.message  # says how to store them
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({}, "$"),
        ({"username": "only"}, "$"),
        ({"content": ""}, "content"),
        ({"content": "x" * 2001}, "content"),
        ({"content": "x", "colour": 1}, "colour"),
        ({"embeds": []}, "embeds"),
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"description": "d" * 4097}]}, "description"),
        ({"embeds": [{"title": "t", "color": 0x1000000}]}, "color"),
        ({"embeds": [{"fields": [{"name": "n"}]}]}, "fields"),
        ({"content": "x", "thread_id": "1", "thread_name": "t"}, "$"),
        ({"content": "x", "thread_id": "general"}, "thread_id"),
        ({"content": "x", "avatar_url": "ftp://x"}, "avatar_url"),
        ({"content": "x", "allowed_mentions": {"parse": ["here"]}}, "parse"),
        ({"content": "x", "flags": 64}, "flags"),
    ],
)
def test_config_schema_rejects(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert problem in caught.value.message
    assert classify(caught.value).category is OutcomeCategory.INVALID_CONFIG


async def test_embeds_over_6000_chars_are_rejected_before_any_call(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    embeds = [{"title": "t" * 256, "description": "d" * 4000}, {"description": "d" * 2000}]
    METADATA.validate_config({"embeds": embeds})  # each embed alone is within its limits
    with pytest.raises(InvalidConfigError, match=r"\$\.embeds.*6256.*6000"):
        await action.execute({"embeds": embeds}, resolver, bot_id, logger)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "options", "expected", "code", "category"),
    [
        ("unknown_webhook", {}, AuthError, 404, OutcomeCategory.AUTH),
        ("missing_permissions", {}, PermanentError, 403, OutcomeCategory.PERMANENT),
        ("payload_too_large", {}, PermanentError, 413, OutcomeCategory.PERMANENT),
    ],
)
async def test_injected_errors_become_typed_errors(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    token: str,
    kind: str,
    options: dict[str, Any],
    expected: type[IntegrationError],
    code: int,
    category: OutcomeCategory,
) -> None:
    fake.inject(kind, **options)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await post(action, {"content": "x"}, resolver, logger, bot_id)
    assert type(caught.value) is expected
    assert caught.value.code == code
    outcome = classify(caught.value)
    assert outcome.category is category
    assert outcome.maybe_executed is False  # Discord answered: nothing was posted
    assert token not in repr(outcome)
    await post(action, {"content": "after"}, resolver, logger, bot_id)  # one-shot fault
    assert [m["content"] for m in fake.messages()] == ["after"]


async def test_rate_limit_uses_the_float_seconds_in_the_body(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    fake.inject("rate_limit", retry_after=64.57)
    with pytest.raises(RateLimitedError) as caught:
        await post(action, {"content": "x"}, resolver, logger, bot_id)
    assert caught.value.retry_after_s == pytest.approx(64.57)  # not the rounded header (65)
    assert caught.value.parameters == {"global": False, "scope": "user", "retry_after": 65}
    outcome = classify(caught.value)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == pytest.approx(64.57)

    fake.inject("global_rate_limit", retry_after=0.25)
    with pytest.raises(RateLimitedError) as caught:
        await post(action, {"content": "x"}, resolver, logger, bot_id)
    assert caught.value.retry_after_s == pytest.approx(0.25)
    assert caught.value.parameters["global"] is True
    assert caught.value.parameters["scope"] == "global"


async def test_cloudflare_ban_has_only_a_retry_after_header(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    fake.inject("cloudflare_ban", retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        await post(action, {"content": "x"}, resolver, logger, bot_id)
    assert caught.value.retry_after_s == 30
    assert caught.value.parameters["scope"] == "cloudflare"


async def test_unversioned_base_url_reports_milliseconds_and_is_converted(
    fake: FakeDiscord, resolver: Any, logger: BotLogger, bot_id: str
) -> None:
    # An operator who pastes Discord's unversioned URL as the base gets milliseconds back.
    clients = HttpClients({"discord": EndpointSettings(base_url=fake.unversioned_url)})
    action = DiscordExecuteWebhookIntegration(clients)
    try:
        fake.inject("rate_limit", retry_after=1.5)
        with pytest.raises(RateLimitedError) as caught:
            await post(action, {"content": "x"}, resolver, logger, bot_id)
    finally:
        await clients.aclose()
    assert fake.calls[0].api_version is None
    assert caught.value.retry_after_s == pytest.approx(1.5)  # 1500 ms on the wire


async def test_invalid_form_body_names_the_json_path(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    # Straight to execute (as a caller that skipped validation): Discord's own check answers.
    with pytest.raises(InvalidConfigError) as caught:
        await action.execute({"content": "x" * 2001}, resolver, bot_id, logger)
    assert caught.value.code == 400
    assert caught.value.errors == ("$.content: Must be 2000 or fewer in length.",)
    assert "50035" in caught.value.message
    with pytest.raises(InvalidConfigError, match=r"50006.*empty message"):
        await action.execute({"content": "   "}, resolver, bot_id, logger)


async def test_unknown_webhook_and_wrong_token_as_discord_answers_them(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    webhook_id: str,
    token: str,
) -> None:
    unknown = make_resolver({"webhook_id": "999", "webhook_token": token})
    with pytest.raises(AuthError) as caught:
        await post(action, {"content": "x"}, unknown, logger, bot_id)
    assert caught.value.code == 404
    assert "deleted" in caught.value.message
    wrong = make_resolver({"webhook_id": webhook_id, "webhook_token": "not-the-token"})
    with pytest.raises(AuthError) as caught:
        await post(action, {"content": "x"}, wrong, logger, bot_id)
    assert caught.value.code == 401
    assert caught.value.message.startswith(
        f"Discord POST webhooks/{webhook_id}: HTTP 401 50027: Invalid Webhook Token"
    )
    assert [c.status for c in fake.calls] == [404, 401]


async def test_token_never_reaches_messages_or_logs(
    action: DiscordExecuteWebhookIntegration,
    fake: FakeDiscord,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    token: str,
    webhook_id: str,
    caplog: pytest.LogCaptureFixture,
    worker_log_levels: None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.discord")
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
        with pytest.raises(IntegrationError) as caught:
            await post(action, {"content": "x"}, resolver, logger, bot_id)
        outcomes.append(classify(caught.value, secrets=logger.secrets))
        assert token not in str(caught.value)
    await post(action, {"content": "fine"}, resolver, logger, bot_id)
    assert "Discord request failed" in caplog.text
    assert "discord message posted" in caplog.text
    assert f"webhook_id={webhook_id}" in caplog.text  # the id is not a secret: kept readable
    assert token not in caplog.text
    assert all(token not in repr(o) for o in outcomes)


def test_metadata_values() -> None:
    meta = DiscordExecuteWebhookIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "discord_execute_webhook",
        "1.0.0",
        "messaging",
    )
    assert (meta.icon_s3_key, meta.color) == ("icons/integrations/discord.svg", "#5865F2")
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("discord", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("non_idempotent", False)
    assert meta.on_unknown_outcome.value == "reexecute"
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 5, 2.0)
    ]
