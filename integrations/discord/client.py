"""Shared pieces of the Discord webhook actions: credentials, the webhook URL, error mapping.

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

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "SERVICE",
    "Webhook",
    "flatten_form_errors",
    "map_error_response",
    "map_transport_error",
    "retry_after_in_ms",
    "retry_after_s",
    "webhook_credentials",
]

SERVICE = "discord"
DEFAULT_BASE_URL = "https://discord.com/api/v10"

# https://discord.com/api[/vN]/webhooks/<id>/<token>, from discord.com, discordapp.com, canary. ...
_WEBHOOK_PATH_RE = re.compile(r"/webhooks/(?P<id>\d{1,25})/(?P<token>[A-Za-z0-9._-]{1,200})/?$")
_ID_RE = re.compile(r"^\d{1,25}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_VERSION_RE = re.compile(r"/v(\d+)(?:/|$)")

# Discord JSON error codes we act on (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
EMPTY_MESSAGE = 50006


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
    creds = await resolver.get_default_for(bot_id=bot_id, provider=SERVICE, strategy="api_key")
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


# -- rate limits -----------------------------------------------------------------------------------


def retry_after_in_ms(base_url: str) -> bool:
    """Whether the API at ``base_url`` reports ``retry_after`` in milliseconds: unversioned URLs
    run Discord's default (v6) version, and v6/v7 used milliseconds; v8+ use float seconds."""
    match = _VERSION_RE.search(urlsplit(base_url).path)
    return match is None or int(match[1]) < 8


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def retry_after_s(
    body: Mapping[str, Any] | None, headers: httpx.Headers, *, milliseconds: bool
) -> float | None:
    """Seconds to wait after a 429: the body's ``retry_after`` (precise), else the
    ``Retry-After`` header (rounded up), else ``X-RateLimit-Reset-After``."""
    scale = 1000.0 if milliseconds else 1.0
    for raw in (
        body.get("retry_after") if body else None,
        headers.get("retry-after"),
    ):
        value = _number(raw)
        if value is not None:
            return value / scale
    return _number(headers.get("x-ratelimit-reset-after"))  # float seconds in every version


# -- errors ----------------------------------------------------------------------------------------


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


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def map_error_response(response: httpx.Response, *, milliseconds: bool) -> IntegrationError:
    """Our typed error for a non-2xx answer to a webhook execute.

    Messages are built from Discord's ``code``/``message``; never from the URL, which holds the
    webhook token.
    """
    status = response.status_code
    body = _json_body(response)
    code = body.get("code") if body else None
    text = body.get("message") if body and isinstance(body.get("message"), str) else None
    where = f"Discord webhook: HTTP {status}" + (f" code {code}" if code is not None else "")
    detail = f"{where}: {text or response.reason_phrase}"

    if status == 429:
        wait = retry_after_s(body, response.headers, milliseconds=milliseconds)
        params: dict[str, Any] = {"global": bool(body.get("global")) if body else False}
        if scope := response.headers.get("x-ratelimit-scope"):
            params["scope"] = scope
        if body is None:  # Cloudflare's HTML 429: the worker's IP is blocked, not one bucket
            params["scope"] = "cloudflare"
        hint = f"retry after {wait:g} s" if wait is not None else "no retry_after given"
        return RateLimitedError(f"{detail} ({hint})", retry_after_s=wait, parameters=params)
    if status == 401 or code == INVALID_WEBHOOK_TOKEN:
        return AuthError(f"{detail}; the webhook token is wrong, store a new webhook URL", code=401)
    if status == 404 and (code == UNKNOWN_WEBHOOK or code is None):
        # The webhook was deleted: its URL (our credential) is dead. AuthError, so the processor
        # refetches the credentials once (the owner may have stored a new URL) and then stops:
        # retrying a dead webhook only feeds Discord's invalid-request limit (10,000 per 10 min
        # per IP, then a Cloudflare ban for the whole worker).
        return AuthError(f"{detail}; the webhook was deleted, store a new webhook URL", code=404)
    if status == 400 and code in (INVALID_FORM_BODY, EMPTY_MESSAGE):
        problems = flatten_form_errors(body.get("errors") if body else None)
        message = detail + (": " + "; ".join(problems) if problems else "")
        return InvalidConfigError(message, errors=problems or (message,), code=400)
    if status >= 500 or status in (408, 425):
        return TransientError(detail, code=status)
    return PermanentError(detail, code=status)


def map_transport_error(exc: httpx.HTTPError) -> IntegrationError:
    """Our typed error for an httpx failure (no answer). Not ``str(exc)``: it may hold the URL.

    Nothing sent (connecting failed) is a plain :class:`TransientError`; a timeout or a dropped
    connection after sending is :class:`OutcomeUnknownError`: Discord may have posted the message,
    and the processor applies ``on_unknown_outcome``.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(f"Discord webhook: not sent, could not connect ({name})", code=503)
    if isinstance(exc, httpx.TimeoutException):
        return OutcomeUnknownError(
            f"Discord webhook: timed out waiting for Discord ({name}); "
            "the message may have been posted"
        )
    return OutcomeUnknownError(
        f"Discord webhook: connection lost mid-request ({name}); the message may have been posted",
        code=502,
    )
