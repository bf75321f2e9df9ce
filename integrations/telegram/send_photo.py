"""``telegram_send_photo``: send a photo by URL, by file_id, or uploaded from base64 bytes."""

from __future__ import annotations

import math
import re
from typing import Any

from telegram import PhotoSize

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError
from integrations.telegram.client import (
    TELEGRAM,
    TELEGRAM_RATE_LIMITS,
    TelegramIntegration,
    sent,
)
from integrations.telegram.config import (
    COMMON_PROPERTIES,
    chat_id,
    decode_upload,
    reply_markup,
    reply_parameters,
)

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit for photos uploaded as multipart
PHOTO_PATTERN = r"^(https?://[^\s/]+\S*|[A-Za-z0-9_-]{8,512})$"
_MAX_BASE64_CHARS = math.ceil(MAX_PHOTO_BYTES / 3) * 4


def remote_photo(value: str) -> str | PhotoSize:
    """``photo`` as python-telegram-bot must see it: a URL, or a file_id it cannot mistake for
    a path (given a string naming a local file, it uploads that file: ``Dockerfile``)."""
    if re.fullmatch(PHOTO_PATTERN, value) is None:  # the schema says so too; this is the seam
        raise InvalidConfigError(
            f"$.photo: {value[:80]!r} is neither an http(s) URL nor a file_id; local paths "
            "and file: URLs are refused, send the bytes as photo_base64 instead"
        )
    if value.startswith(("http://", "https://")):
        return value
    return PhotoSize(file_id=value, file_unique_id=value, width=0, height=0)


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **COMMON_PROPERTIES,
        "photo": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            # Never a local path or file: URL (the library would upload the worker's own file).
            "pattern": PHOTO_PATTERN,
            "description": "An http(s) URL Telegram downloads (≤5 MB), or a file_id of this bot "
            "(letters, digits, - and _); never a path",
        },
        "photo_base64": {
            "type": "string",
            "minLength": 1,
            "maxLength": _MAX_BASE64_CHARS,
            "contentEncoding": "base64",
            "description": "The photo's bytes (≤10 MB), base64-encoded; uploaded as multipart",
        },
        "caption": {"type": "string", "maxLength": 1024},
        "has_spoiler": {"type": "boolean"},
    },
    "required": ["chat_id"],
    "oneOf": [{"required": ["photo"]}, {"required": ["photo_base64"]}],
    "additionalProperties": False,
}

METADATA = TELEGRAM.action(
    "send_photo",
    name="Telegram Send Photo",
    description="Send a photo (URL, file_id or uploaded bytes) with an optional caption.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NON_IDEMPOTENT,  # no idempotency key: a resend is a second photo
    # Uploads use the pool's media write timeout (30 s) on top of connect/pool/read (17 s).
    timeout_s=60.0,
    # At-most-once, as for messages: report OUTCOME_UNKNOWN rather than risk a duplicate photo;
    # ACTIONSTREAM_PROCESSING__UNKNOWN_OUTCOME='{"telegram_send_photo": "reexecute"}' resends.
    on_unknown_outcome=UnknownOutcomePolicy.REPORT,
    rate_limits=TELEGRAM_RATE_LIMITS,
)


class TelegramSendPhotoIntegration(TelegramIntegration):
    """Send a photo to a chat with python-telegram-bot (``Bot.send_photo``).

    Exactly one of ``photo`` (a URL or file_id) and ``photo_base64`` (bytes, ≤10 MB, sent as a
    multipart upload); plus ``caption`` (≤1024 chars), ``parse_mode``, ``has_spoiler``,
    ``disable_notification``, ``protect_content``, an inline-keyboard ``reply_markup``,
    ``reply_parameters`` and ``message_thread_id``. Credentials: ``{"token": "<bot token>"}``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        photo: str | bytes | PhotoSize
        if "photo_base64" in config:
            photo = decode_upload("photo_base64", config["photo_base64"], max_bytes=MAX_PHOTO_BYTES)
        else:
            photo = remote_photo(config["photo"])
        target = chat_id(config["chat_id"])
        with self.errors("sendPhoto", token, logger) as answer:
            answer.raw_only = True  # the result is Telegram's JSON: no PTB Message built
            message = await self.pool.bot(token).send_photo(
                chat_id=target,
                photo=photo,
                caption=config.get("caption"),
                parse_mode=config.get("parse_mode"),
                has_spoiler=config.get("has_spoiler"),
                disable_notification=config.get("disable_notification"),
                protect_content=config.get("protect_content"),
                reply_markup=reply_markup(config),
                reply_parameters=reply_parameters(config),
                message_thread_id=config.get("message_thread_id"),
            )
        result = sent(answer, message)
        logger.debug("telegram photo sent", chat_id=target, message_id=result.get("message_id"))
        return {"response": {"ok": True, "result": result}}
