"""``telegram_send_message``: the seed's example integration, sending a text message."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.telegram.client import (
    TELEGRAM,
    TELEGRAM_RATE_LIMITS,
    TelegramIntegration,
    sent,
)
from integrations.telegram.config import (
    COMMON_PROPERTIES,
    chat_id,
    link_preview_options,
    reply_markup,
    reply_parameters,
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **COMMON_PROPERTIES,
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
        "link_preview_options": {
            "type": "object",
            "properties": {
                "is_disabled": {"type": "boolean"},
                "url": {"type": "string", "minLength": 1},
                "prefer_small_media": {"type": "boolean"},
                "prefer_large_media": {"type": "boolean"},
                "show_above_text": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "disable_web_page_preview": {
            "type": "boolean",
            "description": "Older form of link_preview_options.is_disabled; not with it",
        },
    },
    "required": ["chat_id", "text"],
    "not": {"required": ["link_preview_options", "disable_web_page_preview"]},
    "additionalProperties": False,
}

METADATA = TELEGRAM.action(
    "send_message",
    name="Telegram Send Message",
    description="Send a text message (optionally with an inline keyboard) to a Telegram chat.",
    config_schema=CONFIG_SCHEMA,
    # Telegram has no idempotency key: a resend is a second message.
    side_effect=SideEffect.NON_IDEMPOTENT,
    # Above the pool's connect + pool + write + read timeouts (5 + 2 + 10 + 10 s by default), so
    # a slow Telegram ends as PTB's TimedOut (mapped, "maybe delivered"), not a cancellation.
    timeout_s=30.0,
    # At-most-once: an interrupted send is reported OUTCOME_UNKNOWN, never risked as a duplicate;
    # ACTIONSTREAM_PROCESSING__UNKNOWN_OUTCOME='{"telegram_send_message": "reexecute"}' resends.
    on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    rate_limits=TELEGRAM_RATE_LIMITS,
)


class TelegramSendMessageIntegration(TelegramIntegration):
    """Send a text message to a chat with python-telegram-bot (``Bot.send_message``).

    Config follows the Bot API's sendMessage: ``chat_id`` and ``text`` (1–4096 chars) plus
    ``parse_mode``, ``disable_notification``, ``protect_content``, an inline-keyboard
    ``reply_markup``, ``link_preview_options`` (or ``disable_web_page_preview``),
    ``reply_parameters`` and ``message_thread_id``. Credentials: ``{"token": "<bot token>"}``.
    Returns ``{"response": {"ok": True, "result": <Message>}}``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:

        target = chat_id(config["chat_id"])
        with self.errors("sendMessage", token, logger) as answer:
            answer.raw_only = True  # the result is Telegram's JSON: no PTB Message built
            message = await self.pool.bot(token).send_message(
                chat_id=target,
                text=config["text"],
                parse_mode=config.get("parse_mode"),
                disable_notification=config.get("disable_notification"),
                protect_content=config.get("protect_content"),
                reply_markup=reply_markup(config),
                link_preview_options=link_preview_options(config),
                reply_parameters=reply_parameters(config),
                message_thread_id=config.get("message_thread_id"),
            )
        result = sent(answer, message)
        logger.debug("telegram message sent", chat_id=target, message_id=result.get("message_id"))
        return {"response": {"ok": True, "result": result}}
