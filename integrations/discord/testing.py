"""A fake Discord webhook API: real HTTP on loopback, for tests and demos.

Point the integration at it with ``HttpClients({"discord": EndpointSettings(base_url=fake.url)})``
(``fake.url`` ends in ``/api/v10``)::

    async with FakeDiscord() as fake:
        webhook_id, token = fake.add_webhook()
        ...
        fake.messages(webhook_id)          # what was posted, in arrival order
        fake.inject("rate_limit", retry_after=1.5)  # the next execute gets a 429

It answers as Discord does (``external-apis.md`` §4): ``POST /api[/vN]/webhooks/{id}/{token}``
with a JSON body; ``?wait=true`` → 200 + the message object, otherwise 204; errors as
``{"code", "message", "errors"?}`` with real status codes (400 50035/50006, 401 50027, 404 10015,
429 with ``retry_after``/``global`` and ``Retry-After``/``X-RateLimit-*`` headers). On
unversioned and v6/v7 URLs ``retry_after`` and ``Retry-After`` are milliseconds, as on Discord.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeDiscord", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429 for this webhook's bucket (retry_after, global=False)
    "global_rate_limit",  # 429 with global=True, X-RateLimit-Global, scope "global"
    "cloudflare_ban",  # 429 with an HTML body and only a Retry-After header
    "invalid_token",  # 401 code 50027
    "unknown_webhook",  # 404 code 10015 (the webhook was deleted)
    "missing_permissions",  # 403 code 50013
    "payload_too_large",  # 413 code 40005
]
# 5xx, stalls and cut connections: FakeServer.fail_next / stall_next / drop_next.

_FAULTS: dict[str, tuple[int, int, str]] = {
    "invalid_token": (401, 50027, "Invalid Webhook Token"),
    "unknown_webhook": (404, 10015, "Unknown Webhook"),
    "missing_permissions": (403, 50013, "Missing Permissions"),
    "payload_too_large": (413, 40005, "Request entity too large"),
}
_BUCKET_LIMIT = 5
_DISCORD_EPOCH_MS = 1_420_070_400_000
_MAX_EMBED_CHARS = 6000


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received, with what it answered."""

    webhook_id: str
    token: str
    api_version: int | None  # None for the unversioned /api/webhooks/... URL
    query: dict[str, str]
    body: Any
    message: dict[str, Any] | None = None  # the stored message, when one was posted

    @property
    def delivered(self) -> bool:
        return self.message is not None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next matching requests get; returned by :meth:`FakeDiscord.inject`."""

    webhook_id: str | None
    retry_after: float

    def matches(self, webhook_id: str) -> bool:
        return (self.remaining is None or self.remaining > 0) and (
            self.webhook_id is None or self.webhook_id == webhook_id
        )


@dataclass(slots=True)
class _Webhook:
    token: str
    channel_id: str
    guild_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"message": message, "code": code, **extra}, status=status)


def _form_error(errors: dict[str, Any]) -> web.Response:
    return _error(400, 50035, "Invalid Form Body", errors=errors)


def _too_long(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


class FakeDiscord(FakeServer[RecordedCall, Injection]):
    """A fake Discord webhook API on ``host:port`` (port 0: a free one), started by ``async with``.

    By default any webhook id/token is accepted (``accept_any_webhook=True``); with ``False`` only
    webhooks from :meth:`add_webhook` exist: an unknown id gets 404 10015, a known id with the
    wrong token 401 50027, as on Discord.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, accept_any_webhook: bool = True
    ) -> None:
        super().__init__(host=host, port=port)
        self.accept_any_webhook = accept_any_webhook
        self._webhooks: dict[str, _Webhook] = {}
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v{version:[0-9]+}/webhooks/{id}/{token}", self._handle)
        app.router.add_post("/api/webhooks/{id}/{token}", self._handle)

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The v10 API base, what ``EndpointSettings(base_url=...)`` takes."""
        return f"{self.root}/api/v10"

    @property
    def unversioned_url(self) -> str:
        """The API base as Discord's UI shows it (old default version: milliseconds)."""
        return f"{self.root}/api"

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Discord's shape: ``{"message", "code": 0}``; a 429 with ``retry_after`` (seconds, as
        on the v10 API :attr:`url` points at) and ``global``."""
        if status != 429:
            return _error(status, 0, message)
        body: dict[str, Any] = {"message": "You are being rate limited.", "global": False}
        headers = {"X-RateLimit-Scope": "user"}
        if retry_after_s is not None:
            body["retry_after"] = retry_after_s
            headers["Retry-After"] = str(math.ceil(retry_after_s))
        return web.json_response(body, status=429, headers=headers)

    # -- control ---------------------------------------------------------------------------------

    def add_webhook(
        self,
        webhook_id: str | None = None,
        token: str | None = None,
        *,
        channel_id: str = "199737254929760256",
        guild_id: str = "197038439483310086",
    ) -> tuple[str, str]:
        """Create a webhook; returns its ``(id, token)``."""
        number = next(self._ids)
        webhook_id = webhook_id or str(223704706495545344 + number)
        token = token or f"fake-webhook-token-{number}-3d89bb7572e0fb30d8128367b3b1b44f"
        self._webhooks[webhook_id] = _Webhook(token, channel_id, guild_id)
        return webhook_id, token

    def webhook_url(self, webhook_id: str, token: str, *, versioned: bool = False) -> str:
        """The URL as Discord's "Copy Webhook URL" gives it (pointing at this fake)."""
        base = self.url if versioned else self.unversioned_url
        return f"{base}/webhooks/{webhook_id}/{token}"

    def inject(
        self,
        kind: FaultKind,
        *,
        webhook_id: str | None = None,
        times: int | None = 1,
        retry_after: float = 1.5,
    ) -> Injection:
        """Make the next ``times`` executes of ``webhook_id`` (None: any) fail with ``kind``;
        ``retry_after`` (seconds) is for the rate limits."""
        return self.queue(
            Injection(kind=kind, webhook_id=webhook_id, remaining=times, retry_after=retry_after)
        )

    def messages(self, webhook_id: str | None = None) -> list[dict[str, Any]]:
        """Posted messages, in arrival order."""
        return [
            call.message
            for call in self.calls
            if call.message is not None and (webhook_id is None or call.webhook_id == webhook_id)
        ]

    def clear(self) -> None:
        """Forget calls, messages and injections (webhooks stay)."""
        super().clear()
        for webhook in self._webhooks.values():
            webhook.messages.clear()

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        version_text = request.match_info.get("version")
        version = int(version_text) if version_text else None
        webhook_id, token = request.match_info["id"], request.match_info["token"]
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        call = RecordedCall(
            webhook_id=webhook_id,
            token=token,
            api_version=version,
            query=dict(request.query),
            body=body,
            headers=dict(request.headers),
        )
        self.calls.append(call)
        response = self._respond(call)
        call.status = response.status
        return response

    def _respond(self, call: RecordedCall) -> web.Response:
        webhook = self._webhooks.get(call.webhook_id)
        if webhook is None and self.accept_any_webhook:
            self.add_webhook(call.webhook_id, call.token)
            webhook = self._webhooks[call.webhook_id]
        if webhook is None:
            return _error(404, 10015, "Unknown Webhook")
        if webhook.token != call.token:
            return _error(401, 50027, "Invalid Webhook Token")
        injection = self.take_injection(lambda i: i.matches(call.webhook_id))
        if injection is not None:
            return self._fault(injection, call)
        return self._execute(call, webhook)

    def _fault(self, injection: Injection, call: RecordedCall) -> web.Response:
        kind = injection.kind
        # Unversioned and v6/v7 URLs report milliseconds, v8+ float seconds.
        in_ms = call.api_version is None or call.api_version < 8
        scale = 1000.0 if in_ms else 1.0
        if kind in ("rate_limit", "global_rate_limit"):
            is_global = kind == "global_rate_limit"
            after = injection.retry_after * scale
            headers = {
                "Retry-After": str(math.ceil(after)),
                "X-RateLimit-Scope": "global" if is_global else "user",
                "Via": "1.1 google",
            }
            if is_global:
                headers["X-RateLimit-Global"] = "true"
            else:
                headers.update(self._bucket_headers(call.webhook_id, remaining=0))
                headers["X-RateLimit-Reset-After"] = f"{injection.retry_after:.3f}"
            body = {
                "message": "You are being rate limited.",
                "retry_after": round(after, 3),
                "global": is_global,
            }
            return web.json_response(body, status=429, headers=headers)
        if kind == "cloudflare_ban":
            html = "<html><body>error code: 1015 You are being rate limited</body></html>"
            retry = str(math.ceil(injection.retry_after))
            return web.Response(
                status=429, text=html, content_type="text/html", headers={"Retry-After": retry}
            )
        status, code, message = _FAULTS[kind]
        return _error(status, code, message)

    def _bucket_headers(self, webhook_id: str, *, remaining: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(_BUCKET_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + 2:.3f}",
            "X-RateLimit-Reset-After": "2.000",
            "X-RateLimit-Bucket": f"fake-{webhook_id}",
        }

    def _execute(self, call: RecordedCall, webhook: _Webhook) -> web.Response:
        body = call.body
        if not isinstance(body, dict):
            return _error(400, 50109, "The request body contains invalid JSON.")
        if problem := self._validate(body):
            return problem
        thread_id = call.query.get("thread_id")
        if thread_id is not None and "thread_name" in body:
            return _error(400, 220001, "Cannot provide both thread_id and thread_name")
        now = datetime.now(UTC)
        snowflake = ((int(now.timestamp() * 1000) - _DISCORD_EPOCH_MS) << 22) + next(self._ids)
        channel_id = thread_id or (str(snowflake + 1) if "thread_name" in body else None)
        message = {
            "id": str(snowflake),
            "type": 0,
            "content": body.get("content", ""),
            "channel_id": channel_id or webhook.channel_id,
            "author": {
                "id": call.webhook_id,
                "username": body.get("username", "Fake Webhook"),
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
            },
            "embeds": body.get("embeds", []),
            "tts": bool(body.get("tts", False)),
            "timestamp": now.isoformat(),
            "flags": body.get("flags", 0),
            "webhook_id": call.webhook_id,
        }
        call.message = message
        webhook.messages.append(message)
        headers = self._bucket_headers(call.webhook_id, remaining=_BUCKET_LIMIT - 1)
        if call.query.get("wait", "false").lower() in ("true", "1"):
            return web.json_response(message, headers=headers)
        return web.Response(status=204, headers=headers)

    @staticmethod
    def _validate(body: dict[str, Any]) -> web.Response | None:
        content = body.get("content")
        embeds = body.get("embeds") or []
        if not (content and str(content).strip()) and not embeds:
            return _error(400, 50006, "Cannot send an empty message")
        errors: dict[str, Any] = {}
        if isinstance(content, str) and len(content) > 2000:
            errors["content"] = _too_long(2000)
        if len(embeds) > 10:
            errors["embeds"] = _too_long(10)
        total = 0
        for index, embed in enumerate(embeds if isinstance(embeds, list) else []):
            description = embed.get("description", "") if isinstance(embed, dict) else ""
            if len(description) > 4096:
                errors.setdefault("embeds", {})[str(index)] = {"description": _too_long(4096)}
            if isinstance(embed, dict):
                total += len(embed.get("title", "")) + len(description)
                total += sum(
                    len(f.get("name", "")) + len(f.get("value", ""))
                    for f in embed.get("fields", [])
                )
        if total > _MAX_EMBED_CHARS and "embeds" not in errors:
            errors["embeds"] = {
                "_errors": [
                    {
                        "code": "MAX_EMBED_SIZE_EXCEEDED",
                        "message": "Embed size exceeds maximum size of 6000",
                    }
                ]
            }
        return _form_error(errors) if errors else None


CONTRACT_WEBHOOK = ("223704706495545399", "contract-webhook-token-5f0c9a7e2b4d6183a9e1c7b3d5f2a8e6")
CONTRACT = ContractSubject(
    service="discord",
    fake=FakeDiscord,  # accepts any webhook id and token
    credentials={"webhook_url": "https://discord.com/api/webhooks/{}/{}".format(*CONTRACT_WEBHOOK)},
    configs={"discord_execute_webhook": {"content": "contract"}},
    # 50013 Missing Permissions: the webhook may not post there; its token is not at fault.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "discord_execute_webhook": [
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
    },
)
