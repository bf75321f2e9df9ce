"""What the fake Telegram Bot API records and is told: the call model and request parsing.

:class:`RecordedCall` is one request as the fake received it (decoded parameters, uploaded
files, headers, and what was answered); :class:`Injection` is a fault queued by
:meth:`FakeTelegram.inject <integrations.telegram.testing.FakeTelegram.inject>`;
:func:`read_params` decodes a request's parameters the way the real Bot API does. The server
itself, which answers calls, is in :mod:`integrations.telegram.testing`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection

__all__ = ["FaultKind", "Injection", "RecordedCall", "UploadedFile", "read_params"]

FaultKind = Literal[
    "rate_limit",  # 429 + parameters.retry_after
    "chat_not_found",  # 400
    "unauthorized",  # 401
    "blocked",  # 403, the user blocked the bot
    "server_error",  # 500 (or `status=`, e.g. 502)
    "migrate",  # 400 + parameters.migrate_to_chat_id
    "conflict",  # 409
    "timeout",  # deliver (unless deliver=False), then answer only after delay_s
    "disconnect",  # close the connection without answering
]

# Parameters Telegram types as String: PTB sends strings raw (everything else is json.dumps-ed),
# so these must not be JSON-decoded, or a text of "123" would come back as an int.
_STRING_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "photo", "document", "business_connection_id"}
)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received, with what it answered (``status`` stays 0 while a delayed
    answer is pending)."""

    token: str
    method: str  # canonical camelCase ("sendMessage") for known methods, else as sent
    params: dict[str, Any]  # decoded: JSON values (reply_markup, bools, ints) are decoded
    files: dict[str, UploadedFile] = field(default_factory=dict)
    result: Any = None  # the "result" answered on success (a Message dict for send*)
    delivered: bool = False  # a message was created (also for a delivered "timeout" fault)

    @property
    def chat_id(self) -> int | str | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None

    @property
    def text(self) -> str | None:
        value = self.params.get("text")
        return value if isinstance(value, str) else None

    @property
    def traceparent(self) -> str | None:
        return self.headers.get("traceparent")


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next matching requests get; returned by :meth:`FakeTelegram.inject`."""

    token: str | None
    chat_id: str | None
    method: str | None
    retry_after: int
    migrate_to_chat_id: int | None
    status: int | None
    delay_s: float
    deliver: bool

    def matches(self, token: str, chat_id: str | None, method: str) -> bool:
        return (
            (self.remaining is None or self.remaining > 0)
            and (self.token is None or self.token == token)
            and (self.chat_id is None or self.chat_id == chat_id)
            and (self.method is None or self.method.lower() == method.lower())
        )


def _decode(name: str, value: str) -> Any:
    if name == "chat_id":
        with contextlib.suppress(ValueError):
            return int(value)
        return value
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """The request's parameters (query string, then form, multipart or JSON body) and files."""
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        for name, value in (await request.post()).items():
            if isinstance(value, str):
                params[name] = _decode(name, value)
            elif isinstance(value, web.FileField):
                data = value.file.read()
                files[name] = UploadedFile(value.filename, value.content_type, data)
            else:  # a non-file part whose bytes aiohttp could not decode as text
                params[name] = bytes(value)
    return params, files
