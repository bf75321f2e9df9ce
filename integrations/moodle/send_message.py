"""``moodle_send_message``: a private message to a Moodle user, from the token's user."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError, PermanentError
from integrations.moodle.client import MOODLE, MoodleIntegration, MoodleSite
from integrations.outcome import ok

FUNCTION = "core_message_send_instant_messages"
# core_message\api::MESSAGE_MAX_LENGTH, checked by Moodle with PHP strlen(): bytes, not chars.
MAX_TEXT_BYTES = 4096
TEXT_FORMATS = {"moodle": 0, "html": 1, "plain": 2, "markdown": 4}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "user_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": 9007199254740991,
            "description": "Moodle id of the recipient",
        },
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TEXT_BYTES,
            "description": "Message text (at most 4096 bytes in UTF-8)",
        },
        "text_format": {
            "enum": list(TEXT_FORMATS),
            "description": "How Moodle renders the text (its default is 'moodle')",
        },
    },
    "required": ["user_id", "text"],
    "additionalProperties": False,
}

METADATA = MOODLE.action(
    "send_message",
    name="Moodle Send Message",
    description="Send a private message to a Moodle user through the site's web services "
    "(core_message_send_instant_messages).",
    config_schema=CONFIG_SCHEMA,
    # Moodle has no idempotency key (clientmsgid is only echoed back): a resend is a second
    # message.
    side_effect=SideEffect.NON_IDEMPOTENT,
    timeout_s=25.0,  # above the 20 s HTTP timeout, so a slow site ends as OutcomeUnknownError
    max_attempts=3,
    # As for chat messages: after a lost answer a rare duplicate beats a silent loss.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    rate_limits=(),  # Moodle has no web-service rate limit by default
)


class MoodleSendMessageIntegration(MoodleIntegration):
    """Send a message with ``core_message_send_instant_messages`` (Moodle web services, REST).

    Config: ``user_id`` (recipient), ``text`` (1-4096 bytes) and ``text_format``
    (moodle/html/plain/markdown). Credentials: ``{"site_url": "...", "token": "..."}``; the
    token's service must include the function and its user needs
    ``moodle/site:sendmessage``. Returns ``{"message_id", "to_user_id", "conversation_id",
    "from_user_id", "time_created"}``. Moodle reports a refused message (unknown user, privacy
    settings, too long) inside the result as ``msgid: -1`` + ``errormessage``: that is a
    :class:`PermanentError`.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], site: MoodleSite, logger: BotLogger
    ) -> dict[str, Any]:
        text: str = config["text"]
        size = len(text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise InvalidConfigError(
                f"$.text: {size} bytes in UTF-8, over Moodle's {MAX_TEXT_BYTES}-byte message "
                "limit; shorten the text",
                errors=[f"$.text: {size} bytes, over {MAX_TEXT_BYTES}"],
            )
        user_id = int(config["user_id"])
        args = {"messages[0][touserid]": str(user_id), "messages[0][text]": text}
        if "text_format" in config:
            args["messages[0][textformat]"] = str(TEXT_FORMATS[config["text_format"]])
        answer = await self.web_service(site, FUNCTION, args, logger=logger)
        try:
            result = _result(answer, user_id)
        except PermanentError as exc:
            logger.warning("moodle message refused: %s", exc, category=exc.category.value)
            raise
        logger.info("moodle message sent", to_user_id=user_id, message_id=result["message_id"])
        return ok(result)


def _result(answer: Any, user_id: int) -> dict[str, Any]:
    where = f"Moodle {FUNCTION}"
    if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], dict):
        raise PermanentError(f"{where}: expected one result, got {type(answer).__name__}", code=502)
    item = answer[0]
    msgid = item.get("msgid")
    if not isinstance(msgid, int) or msgid <= 0:
        reason = str(item.get("errormessage") or "no reason given")[:300]
        raise PermanentError(f"{where}: message to user {user_id} not sent: {reason}")
    return {
        "message_id": msgid,
        "to_user_id": user_id,
        "conversation_id": item.get("conversationid"),
        "from_user_id": item.get("useridfrom"),
        "time_created": item.get("timecreated"),
    }
