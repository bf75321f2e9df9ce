"""What the Telegram actions' configs share: the schema fragments and the PTB object builders.

The schema pieces (:data:`COMMON_PROPERTIES` and the fragments it is made of) go into each
action's ``config_schema``; the builders turn a config that already passed that schema into the
objects python-telegram-bot takes (:func:`chat_id`, :func:`reply_markup`,
:func:`reply_parameters`, :func:`link_preview_options`) or into upload bytes
(:func:`decode_upload`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters

from integrations.errors import InvalidConfigError

__all__ = [
    "CHAT_ID_SCHEMA",
    "COMMON_PROPERTIES",
    "PARSE_MODE_SCHEMA",
    "REPLY_MARKUP_SCHEMA",
    "REPLY_PARAMETERS_SCHEMA",
    "chat_id",
    "decode_upload",
    "link_preview_options",
    "reply_markup",
    "reply_parameters",
]

# -- schema fragments ------------------------------------------------------------------------------

CHAT_ID_SCHEMA: dict[str, Any] = {
    "description": "Target chat: a numeric id, or @channelusername",
    "oneOf": [
        # Telegram's ids have at most 52 significant bits; past 64 no client can even hold one.
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "string", "pattern": r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,19})$"},
    ],
}
PARSE_MODE_SCHEMA: dict[str, Any] = {"enum": ["MarkdownV2", "HTML", "Markdown"]}
_BUTTON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "url": {"type": "string", "minLength": 1},
        "callback_data": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "required": ["text"],
    "oneOf": [{"required": ["url"]}, {"required": ["callback_data"]}],
    "additionalProperties": False,
}
REPLY_MARKUP_SCHEMA: dict[str, Any] = {
    "description": "Inline keyboard: rows of buttons, each with a url or callback_data",
    "type": "object",
    "properties": {
        "inline_keyboard": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 1, "items": _BUTTON_SCHEMA},
        }
    },
    "required": ["inline_keyboard"],
    "additionalProperties": False,
}
REPLY_PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message_id": {"type": "integer", "minimum": 1},
        "chat_id": CHAT_ID_SCHEMA,
        "allow_sending_without_reply": {"type": "boolean"},
    },
    "required": ["message_id"],
    "additionalProperties": False,
}
COMMON_PROPERTIES: dict[str, Any] = {
    "chat_id": CHAT_ID_SCHEMA,
    "parse_mode": PARSE_MODE_SCHEMA,
    "disable_notification": {"type": "boolean"},
    "protect_content": {"type": "boolean"},
    "reply_markup": REPLY_MARKUP_SCHEMA,
    "reply_parameters": REPLY_PARAMETERS_SCHEMA,
    "message_thread_id": {"type": "integer", "minimum": 1},
}

# -- PTB object builders ---------------------------------------------------------------------------


def chat_id(value: int | str) -> int | str:
    """A configured chat id as PTB wants it: numeric strings become ints, @names stay."""
    if isinstance(value, str) and not value.startswith("@"):
        return int(value)
    return value


def reply_markup(config: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """``config["reply_markup"]`` (already schema-valid) as PTB's keyboard."""
    markup = config.get("reply_markup")
    if markup is None:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    b["text"], url=b.get("url"), callback_data=b.get("callback_data")
                )
                for b in row
            ]
            for row in markup["inline_keyboard"]
        ]
    )


def reply_parameters(config: Mapping[str, Any]) -> ReplyParameters | None:
    params = config.get("reply_parameters")
    if params is None:
        return None
    target = params.get("chat_id")
    return ReplyParameters(
        message_id=params["message_id"],
        chat_id=None if target is None else chat_id(target),
        allow_sending_without_reply=params.get("allow_sending_without_reply"),
    )


def link_preview_options(config: Mapping[str, Any]) -> LinkPreviewOptions | None:
    """``link_preview_options``, or the older ``disable_web_page_preview`` flag, as PTB's object
    (converted here: PTB would raise if both reached it)."""
    options = config.get("link_preview_options")
    if options is not None:
        return LinkPreviewOptions(**options)
    disabled = config.get("disable_web_page_preview")
    return None if disabled is None else LinkPreviewOptions(is_disabled=disabled)


def decode_upload(field: str, value: str, *, max_bytes: int) -> bytes:
    """Decode a base64 config value; InvalidConfigError if it is not base64 or too big."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidConfigError(f"{field} is not valid base64; encode the file bytes") from None
    if not data:
        raise InvalidConfigError(f"{field} is empty; pass the file's bytes, base64-encoded")
    if len(data) > max_bytes:
        raise InvalidConfigError(
            f"{field} is {len(data)} bytes, over Telegram's {max_bytes}-byte upload limit; "
            "send a smaller file or pass a URL"
        )
    return data
