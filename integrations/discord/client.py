"""Shared pieces of the Discord webhook actions: credentials, the webhook URL, Discord's answers.

Why plain httpx and not discord.py: a webhook execute is one unauthenticated POST, and discord.py's
``Webhook`` needs its own aiohttp session (it cannot share the worker's pooled httpx client), pins
its API base in a class constant (so it cannot be pointed at a fake or a proxy without patching),
and retries by itself inside the call: it sleeps ``retry_after`` on a 429 and ``1 + 2n`` seconds on
a 5xx, up to five times. Here the processor owns retries, back-off and the shared rate limiter, so
the action must make exactly one attempt and report what happened.

Versioning trap (``external-apis.md`` §4): the URL Discord's UI shows is unversioned
(``/api/webhooks/...``), where ``retry_after`` and ``Retry-After`` are **milliseconds**. We never
use the host or path of a stored webhook URL: only its id and token, appended to our configured
base URL, which is ``https://discord.com/api/v10`` (seconds). If an operator points the base URL at
an unversioned or pre-v8 API, :func:`retry_after_in_ms` says so and the values are converted.

Errors are ``{"code", "message", "errors"?}``; the seam (:mod:`integrations.provider`) maps them
by status, except for Discord's own cases (:class:`Discord`):

=============================  ========================  ====================================
Discord answer                 our error (code)          why
=============================  ========================  ====================================
429                            RateLimitedError          body ``retry_after`` (precise);
                                                         ``parameters``: ``global``, ``scope``
                                                         ("cloudflare": an HTML 429, the
                                                         worker's IP is banned)
404 10015 (or no code)         AuthError (404)           the webhook was deleted: refetch the
                                                         URL once, then stop
403 (50013, ...)               PermanentError (403)      the webhook may not post there
400 50035 / 50006              InvalidConfigError (400)  ``errors``: the JSON paths at fault
2xx that is not JSON           TransientError (502)      not Discord's answer (a proxy's)
=============================  ========================  ====================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.errors import AuthError, IntegrationError, InvalidConfigError, PermanentError
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "DEFAULT_BASE_URL",
    "DISCORD",
    "Discord",
    "Webhook",
    "flatten_form_errors",
    "retry_after_in_ms",
    "webhook_credentials",
]

DISCORD = Service("discord", Category.MESSAGING, "#5865F2")

DEFAULT_BASE_URL = "https://discord.com/api/v10"

# https://discord.com/api[/vN]/webhooks/<id>/<token>, from discord.com, discordapp.com, canary. ...
_WEBHOOK_PATH_RE = re.compile(r"/webhooks/(?P<id>\d{1,25})/(?P<token>[A-Za-z0-9._-]{1,200})/?$")
_ID_RE = re.compile(r"^\d{1,25}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_VERSION_RE = re.compile(r"/v(\d+)(?:/|$)")

# Discord JSON error codes we act on (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_WEBHOOK = "10015"
INVALID_FORM_BODY = "50035"
EMPTY_MESSAGE = "50006"


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook's id and token (the token is the secret; it is left out of ``repr``)."""

    id: str
    token: str = field(repr=False)

    @property
    def path(self) -> str:
        """The path below the API base, e.g. ``/webhooks/123/abc`` (holds the token)."""
        return f"/webhooks/{self.id}/{self.token}"


_CREDENTIALS_HINT = (
    'store them as {"webhook_url": "https://discord.com/api/webhooks/<id>/<token>"} or '
    '{"webhook_id": "<id>", "webhook_token": "<token>"} '
    "(Discord: channel settings > Integrations > Webhooks)"
)


async def webhook_credentials(
    resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
) -> Webhook | None:
    """The bot's Discord webhook, or ``None`` when it has no ``discord`` credentials.

    Malformed credentials raise :class:`AuthError`; the message never repeats their values.
    """
    creds = await resolver.get_default_for(bot_id=bot_id, provider=DISCORD.name, strategy="api_key")
    if not creds:
        return None
    url = creds.get("webhook_url")
    # The URL and the token are secrets; the webhook id is not (it stays readable in logs).
    logger.add_secret([url, creds.get("webhook_token")])
    if url is not None:
        match = _WEBHOOK_PATH_RE.search(urlsplit(url).path) if isinstance(url, str) else None
        if match is None:
            raise AuthError(
                f"the bot's 'discord' webhook_url is not a webhook URL; {_CREDENTIALS_HINT}"
            )
        logger.add_secret(match["token"])  # our requests carry it alone, in the path
        return Webhook(match["id"], match["token"])
    webhook_id, token = creds.get("webhook_id"), creds.get("webhook_token")
    if isinstance(webhook_id, int) and not isinstance(webhook_id, bool):
        webhook_id = str(webhook_id)
    if not (isinstance(webhook_id, str) and _ID_RE.match(webhook_id)):
        raise AuthError(
            f"the bot's 'discord' credentials have no valid webhook_id; {_CREDENTIALS_HINT}"
        )
    if not (isinstance(token, str) and _TOKEN_RE.match(token)):
        raise AuthError(
            f"the bot's 'discord' credentials have no valid webhook_token; {_CREDENTIALS_HINT}"
        )
    return Webhook(webhook_id, token)


def retry_after_in_ms(base_url: str) -> bool:
    """Whether the API at ``base_url`` reports ``retry_after`` in milliseconds: unversioned URLs
    run Discord's default (v6) version, and v6/v7 used milliseconds; v8+ use float seconds."""
    match = _VERSION_RE.search(urlsplit(base_url).path)
    return match is None or int(match[1]) < 8


def flatten_form_errors(tree: object, path: str = "$") -> list[str]:
    """Discord's nested ``errors`` object as ``"$.embeds[0].description: Must be ..."`` lines."""
    if not isinstance(tree, Mapping):
        return []
    lines: list[str] = []
    for item in tree.get("_errors") or ():
        if isinstance(item, Mapping):
            lines.append(f"{path}: {item.get('message') or item.get('code') or 'invalid'}")
    for key, child in tree.items():
        if key == "_errors":
            continue
        child_path = f"{path}[{key}]" if str(key).isdigit() else f"{path}.{key}"
        lines.extend(flatten_form_errors(child, child_path))
    return lines


@dataclass(frozen=True, slots=True)
class DiscordDetail(ErrorDetail):
    """Discord's error body, with its form errors as JSON-path lines."""

    problems: tuple[str, ...] = ()


class Discord(Provider):
    """Discord's answers to a webhook execute (see the module's table)."""

    name = "Discord"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        # 204 (wait=false) has no body; any other 2xx must be the stored message object.
        ok = 200 <= response.status_code < 300
        return not ok or (response.status_code != 204 and not isinstance(data, dict))

    def detail(self, response: httpx.Response, data: Any) -> DiscordDetail:
        body: Mapping[str, Any] = data if isinstance(data, dict) else {}
        code, message = body.get("code"), body.get("message")
        if not isinstance(code, int) or isinstance(code, bool) or code == 0:
            code = None  # 0: a general error (Discord's plain "500: Internal Server Error")
        parameters: dict[str, Any] = {}
        wait = None
        if response.status_code == 429:
            wait = _retry_after_s(response, body, discord=isinstance(data, dict))
            parameters["global"] = bool(body.get("global"))
            if scope := response.headers.get("x-ratelimit-scope"):
                parameters["scope"] = scope
            if not isinstance(data, dict):  # Cloudflare's HTML 429: the worker's IP is banned
                parameters["scope"] = "cloudflare"
        return DiscordDetail(
            code=None if code is None else str(code),
            message=message if isinstance(message, str) and message else None,
            retry_after_s=wait,
            parameters=parameters,
            problems=tuple(flatten_form_errors(body.get("errors"))),
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        label = f"HTTP {status}" + (f" {detail.code}" if detail.code else "")
        text = f"{label}: {detail.message or response.reason_phrase}"
        if status == 404 and detail.code in (None, UNKNOWN_WEBHOOK):
            # The webhook was deleted: its URL (our credential) is dead. AuthError, so the
            # processor refetches the credentials once (the owner may have stored a new URL) and
            # then stops: retrying a dead webhook only feeds Discord's invalid-request limit
            # (10,000 per 10 min per IP, then a Cloudflare ban for the whole worker).
            message = call.message(f"{text}; the webhook was deleted, store a new webhook URL")
            return AuthError(message, code=404)
        if status == 403:  # 50013 Missing Permissions: the token is fine, the target is not
            return PermanentError(call.message(text), code=403)
        if status == 400 and detail.code in (INVALID_FORM_BODY, EMPTY_MESSAGE):
            problems = detail.problems if isinstance(detail, DiscordDetail) else ()
            message = call.message(text + (": " + "; ".join(problems) if problems else ""))
            return InvalidConfigError(message, errors=problems or (message,), code=400)
        return None


def _retry_after_s(
    response: httpx.Response, body: Mapping[str, Any], *, discord: bool
) -> float | None:
    """The body's ``retry_after``, in seconds; on a pre-v8 API (milliseconds) also the
    ``Retry-After`` header. ``None``: the seam reads the headers (seconds)."""
    base = response.request.url.path.split("/webhooks/", 1)[0]
    scale = 1000.0 if retry_after_in_ms(base) else 1.0
    raw = body.get("retry_after")
    if raw is None and discord and scale != 1.0:
        raw = response.headers.get("retry-after")  # Cloudflare's, on an HTML 429, is seconds
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value / scale if math.isfinite(value) and value >= 0 else None
