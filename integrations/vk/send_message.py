"""``vk_send_message``: a message from a VK community to a user, a chat or a community."""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.http import KeyedHttpIntegration
from integrations.outcome import ok
from integrations.vk.client import API_VERSION, DEFAULT_BASE_URL, TOKEN, VK, VK_SERVICE, random_id

# messages.send's documented maxLength of ``message`` and ``attachment`` (VKCOM/vk-api-schema).
MAX_MESSAGE_CHARS = 9000
# VK's peer ids are int64 (users, 2000000000 + chat id, -community id); 0 names no one.
_INT64 = 2**63 - 1
# "<type><owner_id>_<media_id>[_<access_key>]", the types messages.send documents.
ATTACHMENT_PATTERN = (
    r"^(photo|video|audio|doc|wall|market)-?[0-9]{1,19}_[0-9]{1,19}(_[0-9A-Za-z]{1,64})?$"
)
MAX_ATTACHMENTS = 10  # what a VK message holds; longer lists are refused by VK

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "peer_id": {
            "type": "integer",
            "minimum": -_INT64,
            "maximum": _INT64,
            "not": {"const": 0},
            "description": "Recipient: a user id (12345), 2000000000 + chat id for a chat "
            "(2000000001), or minus a community id (-12345)",
        },
        "message": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_MESSAGE_CHARS,
            "description": f"Message text, at most {MAX_MESSAGE_CHARS} characters (VK's limit)",
        },
        "attachment": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ATTACHMENTS,
            "items": {
                "type": "string",
                "maxLength": 128,
                "pattern": ATTACHMENT_PATTERN,
                "description": "A VK media object: <type><owner_id>_<media_id>[_<access_key>], "
                "e.g. photo100172_166443618",
            },
            "description": f"Up to {MAX_ATTACHMENTS} media objects already on VK to attach",
        },
        "dont_parse_links": {
            "type": "boolean",
            "description": "true: links in the text get no preview snippet",
        },
        "disable_mentions": {
            "type": "boolean",
            "description": "true: mentions in the text notify no one",
        },
    },
    "required": ["peer_id"],
    # VK needs a text or an attachment.
    "anyOf": [{"required": ["message"]}, {"required": ["attachment"]}],
    "additionalProperties": False,
}

METADATA = VK_SERVICE.action(
    "send_message",
    name="VK Send Message",
    description="Send a message from a VK community to a user, a chat or a community "
    "(messages.send), with optional media attachments.",
    config_schema=CONFIG_SCHEMA,
    # Every attempt of a request carries the same random_id, which VK dedupes per sender: a
    # retry after a lost answer returns the first message instead of sending a second.
    side_effect=SideEffect.IDEMPOTENT,
    supports_idempotency_key=True,
    # VK does not say how long it remembers a random_id (its 2019 page: the whole history;
    # later wording is said to check only recent messages of the dialog). One hour is the
    # shortest window we have seen claimed, so a replay older than that is treated as
    # non-idempotent rather than trusted to VK's dedup.
    idempotency_window_s=3600.0,
    timeout_s=15.0,  # above the 10 s HTTP timeout: a slow VK ends as OutcomeUnknownError
    max_attempts=5,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,  # safe: random_id dedupes
    # VK: at most 20 requests a second with a community token (3 with a user token).
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=20, period_s=1.0),),
)


def form(config: dict[str, Any], rid: int) -> dict[str, str]:
    """The form-encoded parameters of ``messages.send`` for a schema-valid ``config``."""
    params = {"peer_id": str(config["peer_id"]), "random_id": str(rid), "v": API_VERSION}
    if "message" in config:
        params["message"] = config["message"]
    if "attachment" in config:
        params["attachment"] = ",".join(config["attachment"])
    for flag in ("dont_parse_links", "disable_mentions"):
        if config.get(flag):
            params[flag] = "1"
    return params


class VKSendMessageIntegration(KeyedHttpIntegration):
    """Send a message with ``messages.send`` (VK API 5.199, form POST, community token).

    Config: ``peer_id`` (a user, 2000000000 + chat id, or -community id), ``message`` (1-9000
    characters) and/or ``attachment`` (up to 10 media objects such as
    ``photo100172_166443618``), ``dont_parse_links``, ``disable_mentions``. Credentials:
    ``{"token": "<community access token>"}`` with the ``messages`` right. ``random_id`` comes
    from the request's idempotency key, so retries never send twice. Returns ``{"message_id",
    "peer_id", "random_id"}``. A peer that does not accept the community's messages (901, 902)
    is a :class:`~integrations.errors.PermanentError`. Keyboards are not supported yet: their
    JSON (buttons, actions, payloads) is not bounded by this schema.
    """

    service: ClassVar[str] = VK_SERVICE.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = VK()
    secret = TOKEN
    http_timeout_s: ClassVar[float] = 10.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        peer_id = int(config["peer_id"])
        rid = random_id(logger)
        reply = await self.call(
            "POST", "method/messages.send", data=form(config, rid),
            headers={"Authorization": f"Bearer {token}"}, secrets=[token],
            what=f"messages.send to peer_id {peer_id}", logger=logger,
        )  # fmt: skip
        message_id = reply.body["response"]
        logger.info("vk message sent", peer_id=peer_id, message_id=message_id)
        return ok({"message_id": message_id, "peer_id": peer_id, "random_id": rid})
