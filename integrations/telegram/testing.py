"""A fake Telegram Bot API server: real HTTP on loopback, for tests, benchmarks and demos.

python-telegram-bot talks to it unmodified through ``base_url``::

    async with FakeTelegram() as fake:  # 127.0.0.1:<free port>
        settings = TelegramSettings(base_url=fake.base_url, base_file_url=fake.base_file_url)
        ...
        fake.messages(token=token, chat_id=42)  # what was delivered, in arrival order
        fake.inject("rate_limit", chat_id=42, retry_after=3)  # the next matching call gets a 429

It speaks the wire protocol as the real Bot API does (see ``external-apis.md`` §1): ``POST
/bot<token>/<method>`` (GET too), method names case-insensitive, parameters as a query string,
``application/x-www-form-urlencoded``, ``multipart/form-data`` or JSON, and errors with real HTTP
status codes and the ``{"ok": false, "error_code", "description", "parameters"}`` envelope, because
PTB ignores ``ok`` and decides by status code. Every request is recorded, failures included, as
a :class:`RecordedCall`; that model, the faults and the parameter decoding are in
``testing_calls.py``.

The shared faults of :class:`~integrations.testing.FakeServer` work here too; a bare
``fail_next(status)`` answers in that envelope (:meth:`FakeTelegram.error_response`), and
``CONTRACT`` runs the shared contract suite (``tests/integrations/test_contract.py``) against it.

Standalone: ``python -m integrations.telegram.testing --port 8081`` prints its base_url and logs the
messages it receives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import math
import random
import zlib
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.settings import IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.testing_calls import (
    FaultKind,
    Injection,
    RecordedCall,
    UploadedFile,
    read_params,
)
from integrations.testing import ContractSubject, FakeServer

__all__ = [
    "CONTRACT",
    "FakeTelegram",
    "FaultKind",
    "Injection",
    "RecordedCall",
    "TelegramContract",
    "UploadedFile",
]

log = logging.getLogger(__name__)

_FAULTS: dict[str, tuple[int, str]] = {
    "rate_limit": (429, "Too Many Requests: retry after "),
    "chat_not_found": (400, "Bad Request: chat not found"),
    "unauthorized": (401, "Unauthorized"),
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "server_error": (500, "Internal Server Error"),
    "migrate": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    "conflict": (409, "Conflict: terminated by other getUpdates request"),
}
_KNOWN_METHODS = ("getMe", "sendMessage", "sendPhoto", "sendDocument")
_METHODS = {name.lower(): name for name in _KNOWN_METHODS}
_MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # Telegram's multipart limit for documents
_SUPERGROUP_MIN = 1_000_000_000_000  # supergroup/channel ids are -100xxxxxxxxxx


def _error(status: int, description: str, **parameters: int) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


class FakeTelegram(FakeServer[RecordedCall, Injection]):
    """A fake Bot API server on ``host:port`` (port 0: a free one), started by ``async with``.

    Tokens: by default any token is accepted (``accept_any_token=True``); with ``False`` only
    tokens given to :meth:`add_token` are, the others get Telegram's 401. Calls are recorded per
    token either way. Latency: ``latency_s`` for every request plus up to ``jitter_s`` at random,
    plus per-token/per-chat extras from :meth:`set_latency`.
    """

    api_path = "/bot"  # the real base URL ends in it

    backlog = 1024
    client_max_size = _MAX_UPLOAD_BYTES + 1024 * 1024

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accept_any_token: bool = True,
        log_messages: bool = False,
        keep_wire: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, keep_wire=keep_wire)
        self.accept_any_token = accept_any_token
        self.log_messages = log_messages
        self.latency_s = 0.0
        self.jitter_s = 0.0
        self._tokens: dict[str, dict[str, Any]] = {}
        self._extra_latency: dict[tuple[str | None, str | None], float] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._usernames: dict[str, int] = {}
        self._file_ids = itertools.count(1)
        self._arrived = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # -- control ---------------------------------------------------------------------------------

    def add_token(
        self, token: str, *, bot_id: int | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """Register a bot token; returns the User that getMe answers for it."""
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else zlib.crc32(token.encode()) or 1
        user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": f"Fake {bot_id}",
            "username": username or f"fake_{bot_id}_bot",
        }
        self._tokens[token] = user
        return user

    def inject(
        self,
        kind: FaultKind,
        *,
        token: str | None = None,
        chat_id: int | str | None = None,
        method: str | None = None,
        times: int | None = 1,
        retry_after: int = 5,
        migrate_to_chat_id: int | None = None,
        status: int | None = None,
        delay_s: float = 30.0,
        deliver: bool = True,
    ) -> Injection:
        """Make the next ``times`` requests matching token/chat_id/method (None: any) fail.

        ``retry_after`` is for "rate_limit", ``migrate_to_chat_id`` for "migrate" (default: the
        chat's supergroup id), ``status`` overrides the HTTP status of "server_error" (500).
        "timeout" answers after ``delay_s`` (closing the fake cuts it short); with ``deliver`` the
        message is created first, as when Telegram delivered but the answer never arrived.
        """
        chat = None if chat_id is None else str(chat_id)
        return self.queue(
            Injection(
                kind=kind,
                token=token,
                chat_id=chat,
                method=method,
                remaining=times,
                retry_after=retry_after,
                migrate_to_chat_id=migrate_to_chat_id,
                status=status,
                delay_s=delay_s,
                deliver=deliver,
            )
        )

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Telegram's envelope, ``{"ok": false, "error_code", "description"}``; a 429 with a
        wait carries it as ``parameters.retry_after`` (whole seconds) and ``Retry-After``."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        if status == 429 and retry_after_s is not None:
            wait = max(1, math.ceil(retry_after_s))
            response = _error(status, f"{phrase}: retry after {wait}", retry_after=wait)
            response.headers["Retry-After"] = str(wait)
            return response
        return _error(status, f"{phrase}: {message}")

    def set_latency(
        self, seconds: float, *, token: str | None = None, chat_id: int | str | None = None
    ) -> None:
        """Extra latency for one token and/or chat, on top of ``latency_s``."""
        self._extra_latency[(token, None if chat_id is None else str(chat_id))] = seconds

    def messages(
        self, token: str | None = None, chat_id: int | str | None = None
    ) -> list[RecordedCall]:
        """Delivered messages (any send* method), in arrival order, optionally filtered."""
        wanted = None if chat_id is None else str(chat_id)
        return [
            call
            for call in self.calls
            if call.delivered
            and (token is None or call.token == token)
            and (wanted is None or str(call.chat_id) == wanted)
        ]

    async def wait_for_messages(
        self,
        count: int,
        *,
        token: str | None = None,
        chat_id: int | str | None = None,
        timeout_s: float = 10.0,
    ) -> list[RecordedCall]:
        """Wait until at least ``count`` matching messages arrived; TimeoutError otherwise."""
        async with asyncio.timeout(timeout_s):
            while True:
                self._arrived.clear()  # before looking, so no delivery slips in between
                if len(found := self.messages(token, chat_id)) >= count:
                    return found
                await self._arrived.wait()

    def clear(self) -> None:
        """Forget calls, injections, latency and message ids (registered tokens stay)."""
        super().clear()
        self._extra_latency.clear()
        self._message_ids.clear()
        self.latency_s = self.jitter_s = 0.0

    # -- the server ------------------------------------------------------------------------------

    def _latency(self, token: str, chat_id: str | None) -> float:
        delay = self.latency_s + (random.uniform(0, self.jitter_s) if self.jitter_s else 0.0)
        if self._extra_latency:
            for key in ((token, None), (None, chat_id), (token, chat_id)):
                delay += self._extra_latency.get(key, 0.0)
        return delay

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        sent_method = request.match_info["method"]
        method = _METHODS.get(sent_method.lower(), sent_method)
        params, files = await read_params(request)
        call = RecordedCall(
            token=token, method=method, params=params, files=files, headers=dict(request.headers)
        )
        self.calls.append(call)
        chat_key = None if call.chat_id is None else str(call.chat_id)

        if delay := self._latency(token, chat_key):
            await self.wait_unless_closing(delay)
        response: web.StreamResponse
        if not self.accept_any_token and token not in self._tokens:
            response = _error(401, "Unauthorized")
        elif (
            injection := self.take_injection(lambda i: i.matches(token, chat_key, method))
        ) is not None:
            response = await self._fault(injection, call, request)
        else:
            response = self._execute(call)
        call.status = response.status
        return response

    async def _fault(
        self, injection: Injection, call: RecordedCall, request: web.Request
    ) -> web.StreamResponse:
        kind = injection.kind
        if kind in _FAULTS:
            status, description = _FAULTS[kind]
            parameters: dict[str, int] = {}
            if kind == "rate_limit":
                parameters["retry_after"] = injection.retry_after
                description += str(injection.retry_after)
            elif kind == "migrate":
                old = call.chat_id if isinstance(call.chat_id, int) else 0
                new = injection.migrate_to_chat_id or -(_SUPERGROUP_MIN + abs(old))
                parameters["migrate_to_chat_id"] = new
            elif kind == "server_error" and injection.status:
                status, description = injection.status, "Bad Gateway"
            return _error(status, description, **parameters)
        if kind == "disconnect":
            return self.disconnect(request)
        # "timeout": the message may be delivered although the client never hears about it.
        response = self._execute(call) if injection.deliver else _error(502, "Bad Gateway")
        await self.wait_unless_closing(injection.delay_s)
        return response

    def _execute(self, call: RecordedCall) -> web.Response:
        method = call.method
        if method == "getMe":
            call.result = self._tokens.get(call.token) or self.add_token(call.token)
            return web.json_response({"ok": True, "result": call.result})
        if method not in _METHODS.values():
            return _error(404, "Not Found")
        params = call.params
        raw_chat = params.get("chat_id")
        if raw_chat in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(raw_chat, int) and not str(raw_chat).startswith("@"):
            return _error(400, "Bad Request: chat not found")
        content: dict[str, Any] = {}
        if method == "sendMessage":
            text = params.get("text")
            if not isinstance(text, str) or not text.strip():
                return _error(400, "Bad Request: message text is empty")
            if len(text) > 4096:
                return _error(400, "Bad Request: message is too long")
            content["text"] = text
        else:
            field_name = "photo" if method == "sendPhoto" else "document"
            caption = params.get("caption")
            if isinstance(caption, str) and len(caption) > 1024:
                return _error(400, "Bad Request: message caption is too long")
            media = self._media(field_name, call)
            if media is None:
                return _error(400, f"Bad Request: there is no {field_name} in the request")
            content[field_name] = media
            if caption:
                content["caption"] = caption
            if params.get("has_spoiler") is True:
                content["has_media_spoiler"] = True
        markup = params.get("reply_markup")
        if markup is not None:
            if not isinstance(markup, dict):
                return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
            if "inline_keyboard" in markup:  # Telegram echoes inline keyboards only
                content["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        message = self._new_message(call) | content
        call.result = message
        call.delivered = True
        self._arrived.set()
        if self.log_messages:
            log.info("%s chat=%s %s", method, message["chat"]["id"], message.get("text", ""))
        return web.json_response({"ok": True, "result": message})

    def _new_message(self, call: RecordedCall) -> dict[str, Any]:
        raw = call.params["chat_id"]
        chat: dict[str, Any]
        if isinstance(raw, str) and raw.startswith("@"):
            chat_id = self._usernames.setdefault(raw, -(_SUPERGROUP_MIN + len(self._usernames) + 1))
            chat = {"id": chat_id, "type": "channel", "username": raw[1:], "title": raw[1:]}
        else:
            chat_id = int(raw)
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": "User"}
            else:
                kind = "supergroup" if chat_id <= -_SUPERGROUP_MIN else "group"
                chat = {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        bot = self._tokens.get(call.token) or self.add_token(call.token)
        return {"message_id": next(counter), "date": int(call.time), "chat": chat, "from": bot}

    def _media(self, field_name: str, call: RecordedCall) -> Any:
        upload = call.files.get(field_name)
        reference = call.params.get(field_name)
        if upload is None and not reference:
            return None
        number = next(self._file_ids)
        size = len(upload.data) if upload is not None else 0
        file = {"file_id": f"fake-file-{number}", "file_unique_id": f"u{number}", "file_size": size}
        if field_name == "photo":
            return [{**file, "width": 90, "height": 90}]
        name = upload.filename if upload is not None else "document"
        content_type = upload.content_type if upload is not None else "application/octet-stream"
        return {**file, "file_name": name, "mime_type": content_type}


CONTRACT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALcntrt"  # noqa: S105 - the fake's


@dataclass(frozen=True)
class TelegramContract(ContractSubject):
    """Telegram is configured by :class:`TelegramSettings`, not by an HTTP endpoint."""

    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        telegram = TelegramSettings(
            base_url=url,  # FakeTelegram.base_url; its base_file_url beside it
            base_file_url=url.removesuffix("/bot") + "/file/bot",
            connect_timeout_s=timeout_s,
            read_timeout_s=timeout_s,
            write_timeout_s=timeout_s,
        )
        return IntegrationSettings(), telegram


def _contract_fake() -> FakeTelegram:
    fake = FakeTelegram(accept_any_token=False)
    fake.add_token(CONTRACT_TOKEN)
    return fake


CONTRACT = TelegramContract(
    service="telegram",
    fake=_contract_fake,
    credentials={"token": CONTRACT_TOKEN},
    configs={
        "telegram_send_message": {"chat_id": 42, "text": "contract"},
        "telegram_send_photo": {"chat_id": 42, "photo": "AgACAgIAAxkBAAIB"},
    },
    forbidden=OutcomeCategory.PERMANENT,  # 403 is "bot was blocked by the user"
    # The Bot API's envelope with "ok": false is its word that the request was unsuccessful;
    # a 5xx without it (a gateway's page) stays "maybe executed".
    error_answer_executed=False,
    invalid_configs={
        "telegram_send_message": [
            ({"chat_id": "not a chat", "text": "x"}, "chat_id"),
            ({"chat_id": 1.5, "text": "x"}, "chat_id"),
            ({"chat_id": 10**30, "text": "x"}, "chat_id"),  # no chat id is past 64 bits
            ({"text": "x"}, "chat_id"),
            ({"chat_id": 1, "text": "x" * 4097}, "text"),
            ({"chat_id": 1, "text": ""}, "text"),
            ({"chat_id": 1, "text": "x", "colour": "red"}, "colour"),
            ({"chat_id": 1, "text": "x", "parse_mode": "rst"}, "parse_mode"),
            (
                {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "b"}]]}},
                "inline_keyboard",
            ),
            (
                {
                    "chat_id": 1,
                    "text": "x",
                    "link_preview_options": {"is_disabled": True},
                    "disable_web_page_preview": True,
                },
                "$",
            ),
        ],
        "telegram_send_photo": [
            ({"chat_id": 1}, "$"),  # neither photo nor photo_base64
            ({"chat_id": 1, "photo": "u", "photo_base64": "AAAA"}, "$"),  # both
            ({"chat_id": 1, "photo": "u", "caption": "c" * 1025}, "caption"),
            ({"chat_id": 1, "photo": ""}, "photo"),
            ({"chat_id": 1, "photo": "u", "text": "not here"}, "text"),
            ({"chat_id": "x", "photo": "u"}, "chat_id"),
        ],
    },
)


async def _serve(host: str, port: int, latency_s: float) -> None:
    async with FakeTelegram(host=host, port=port, log_messages=True) as fake:
        fake.latency_s = latency_s
        print(f"fake Telegram Bot API listening; base_url={fake.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone (``python -m integrations.telegram.testing``) for a local demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.latency_s))


if __name__ == "__main__":
    main()
