"""``discord_execute_webhook``: post a message (text and/or embeds) through a channel webhook."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from integrations.base import (
    CredentialsResolverLike,
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.discord.client import (
    DEFAULT_BASE_URL,
    DISCORD,
    Discord,
    Webhook,
    webhook_credentials,
)
from integrations.errors import InvalidConfigError
from integrations.http import HttpIntegration
from integrations.outcome import ok

_URL: dict[str, Any] = {"type": "string", "pattern": r"^https?://\S+$", "maxLength": 2048}
_SNOWFLAKE: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]{1,25}$"}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _object(*required: str, **properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object of ``properties`` that must have those ``required``."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_EMBED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": _text(256),
        "description": _text(4096),
        "url": _URL,
        "color": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFF},
        "timestamp": {"type": "string", "format": "date-time"},
        "footer": _object("text", text=_text(2048), icon_url=_URL),
        "author": _object("name", name=_text(256), url=_URL, icon_url=_URL),
        "image": _object("url", url=_URL),
        "thumbnail": _object("url", url=_URL),
        "fields": {
            "type": "array",
            "maxItems": 25,
            "items": _object(
                "name", "value", name=_text(256), value=_text(1024), inline={"type": "boolean"}
            ),
        },
    },
    "minProperties": 1,
    "additionalProperties": False,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "content": _text(2000),
        "embeds": {"type": "array", "minItems": 1, "maxItems": 10, "items": _EMBED},
        "username": _text(80),
        "avatar_url": _URL,
        "tts": {"type": "boolean"},
        "allowed_mentions": {
            "description": "Which mentions in content ping; default: users and roles, never "
            "@everyone/@here (bot messages often carry user text)",
            "type": "object",
            "properties": {
                "parse": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": ["roles", "users", "everyone"]},
                },
                "roles": {"type": "array", "maxItems": 100, "items": _SNOWFLAKE},
                "users": {"type": "array", "maxItems": 100, "items": _SNOWFLAKE},
            },
            "additionalProperties": False,
        },
        "flags": {
            "description": "SUPPRESS_EMBEDS (4) and/or SUPPRESS_NOTIFICATIONS (4096)",
            "enum": [0, 4, 4096, 4100],
        },
        "thread_id": {**_SNOWFLAKE, "description": "Post into this thread of the channel"},
        "thread_name": {
            **_text(100),
            "description": "Forum/media channels: create a thread with this name",
        },
        "applied_tags": {"type": "array", "maxItems": 5, "items": _SNOWFLAKE},
        "wait": {
            "type": "boolean",
            "default": True,
            "description": "Wait for Discord to store the message and return it (recommended: "
            "without it a lost answer cannot tell whether the message was posted)",
        },
    },
    "anyOf": [{"required": ["content"]}, {"required": ["embeds"]}],
    "not": {"required": ["thread_id", "thread_name"]},
    "additionalProperties": False,
}

# Discord: "the combined sum of characters in all title, description, field.name, field.value,
# footer.text, and author.name fields across all embeds must not exceed 6000".
MAX_EMBED_CHARS = 6000
DEFAULT_ALLOWED_MENTIONS: dict[str, Any] = {"parse": ["users", "roles"]}

METADATA = DISCORD.action(
    "execute_webhook",
    name="Discord Execute Webhook",
    description="Post a message with text and/or embeds to a Discord channel or thread through "
    "a channel webhook.",
    config_schema=CONFIG_SCHEMA,
    # Discord has no idempotency key for webhook execute: a resend is a second message.
    side_effect=SideEffect.NON_IDEMPOTENT,
    # Above the HTTP timeouts (connect 5 s, read 15 s), so a slow Discord ends as our mapped
    # "maybe posted" error rather than a cancellation.
    timeout_s=20.0,
    # As for Telegram: a rare duplicate chat message beats a silently lost one.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # One credential is one webhook; Discord buckets webhooks per id+token and in practice
    # allows about 5 requests per 2 s each (X-RateLimit-Limit: 5). Excess gets a 429 whose
    # retry_after we honour; the global 50 req/s is per IP and not a per-credential limit.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=5, period_s=2.0),),
)


def embed_chars(embeds: list[dict[str, Any]]) -> int:
    """Characters Discord counts towards the 6000-character limit across all embeds."""
    total = 0
    for embed in embeds:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
        total += len(embed.get("author", {}).get("name", ""))
        for item in embed.get("fields", ()):
            total += len(item["name"]) + len(item["value"])
    return total


def _payload(config: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        key: config[key]
        for key in (
            "content",
            "embeds",
            "username",
            "avatar_url",
            "tts",
            "flags",
            "thread_name",
            "applied_tags",
        )
        if key in config
    }
    payload["allowed_mentions"] = config.get("allowed_mentions", DEFAULT_ALLOWED_MENTIONS)
    return payload


def _result(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "confirmed": True,
        "message_id": message.get("id"),
        "channel_id": message.get("channel_id"),
        "webhook_id": message.get("webhook_id"),
        "timestamp": message.get("timestamp"),
        "content": message.get("content"),
        "embeds": len(message.get("embeds") or ()),
    }


class DiscordExecuteWebhookIntegration(HttpIntegration, CredentialedIntegration[Webhook]):
    """Post a message through a Discord channel webhook (``POST /webhooks/{id}/{token}``).

    Config: ``content`` (≤2000 chars) and/or ``embeds`` (≤10, ≤6000 chars in total), plus
    ``username``, ``avatar_url``, ``tts``, ``allowed_mentions`` (default: users and roles, no
    @everyone), ``flags``, ``thread_id`` or ``thread_name`` (forums), ``applied_tags`` and
    ``wait`` (default true: Discord returns the stored message). Credentials:
    ``{"webhook_url": "https://discord.com/api/webhooks/<id>/<token>"}`` or
    ``{"webhook_id", "webhook_token"}``; only the id and token are used, against the configured
    v10 base URL. Returns ``{"confirmed": true, "message_id", "channel_id", "webhook_id",
    "timestamp", "content", "embeds": <count>}``, or ``{"confirmed": false}`` with ``wait=false``.
    """

    service: ClassVar[str] = DISCORD.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = Discord()
    http_timeout_s: ClassVar[float] = 15.0

    metadata = METADATA

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> Webhook | None:
        return await webhook_credentials(resolver, bot_id, logger)

    async def run(
        self, config: dict[str, Any], webhook: Webhook, logger: BotLogger
    ) -> dict[str, Any]:
        embeds = config.get("embeds") or []
        if (chars := embed_chars(embeds)) > MAX_EMBED_CHARS:
            raise InvalidConfigError(
                f"$.embeds: the embeds hold {chars} characters in titles, descriptions, fields, "
                f"footers and authors; Discord allows {MAX_EMBED_CHARS} in total, shorten them",
                errors=[f"$.embeds: {chars} characters, over Discord's {MAX_EMBED_CHARS}"],
            )

        wait = config.get("wait", True)
        params: dict[str, str] = {"wait": "true" if wait else "false"}
        if "thread_id" in config:
            params["thread_id"] = config["thread_id"]
        # ``what`` names the webhook by id: the path holds the token.
        reply = await self.call(
            "POST", webhook.path, params=params, json=_payload(config),
            secrets=[webhook.token], what=f"POST webhooks/{webhook.id}", logger=logger,
        )  # fmt: skip
        if not wait or reply.response.status_code == 204:
            logger.info("discord webhook accepted", webhook_id=webhook.id)
            return ok({"confirmed": False, "message_id": None})
        message = reply.body
        result = _result(message)
        logger.info(
            "discord message posted", webhook_id=webhook.id, message_id=result["message_id"]
        )
        return ok(result)
