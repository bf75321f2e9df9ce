"""A fake VK API (``messages.send``): real HTTP on loopback, for tests and demos.

    async with FakeVK(tokens={"vk1.a.t0k"}) as fake:        # 127.0.0.1:<free port>
        fake.inject("flood")                  # the next call gets VK's error 9, in an HTTP 200
        fake.refuse(12345, code=901)          # this user has not allowed the community's messages
        fake.messages                         # what was delivered (one per random_id)

It answers as VK does (see ``integrations/vk/client.py`` for the sources): ``/method/<name>``
by GET or POST, parameters from the query string and a form body (``x-www-form-urlencoded`` or
multipart; a JSON body is not read, as VK does not support it, so its parameters are missing);
the token from ``Authorization: Bearer`` or the ``access_token`` parameter; ``v`` required.
Success is ``{"response": <message id>}``; **every error is HTTP 200** with
``{"error": {"error_code", "error_msg", "request_params"}}``, ``request_params`` echoing the
parameters, the ``access_token`` included as VK's own example shows (so tests prove nothing
reads it). ``random_id`` is required and deduplicated per (token, random_id) for
``dedup_window_s``: a repeat answers the first message's id and sends nothing.

A bare ``fail_next(status)`` answers in VK's shape (:meth:`FakeVK.error_response`): 400, 401,
403, 429 (without a wait) and 500 as VK's error object inside a 200; a 429 with a wait and any
other status bare, as a proxy or an outage in front of VK would.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "DeliveredMessage", "FakeVK", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "unknown",  # 1
    "auth_failed",  # 5
    "too_many_rps",  # 6
    "permission",  # 7
    "flood",  # 9
    "internal",  # 10
    "captcha",  # 14 (with captcha_sid / captcha_img / redirect_uri)
    "group_auth",  # 27
    "rate_limit_reached",  # 29
    "invalid_param",  # 100
    "deny_send",  # 901
    "privacy",  # 902
    "lost_answer",  # the message IS sent, then the connection is closed without an answer
    "slow_answer",  # the message IS sent, its answer comes only after delay_s
]
_ERRORS: dict[str, tuple[int, str]] = {
    "unknown": (1, "Unknown error occurred"),
    "auth_failed": (5, "User authorization failed: invalid access_token (4)."),
    "too_many_rps": (6, "Too many requests per second"),
    "permission": (7, "Permission to perform this action is denied"),
    "flood": (9, "Flood control: too much messages sent to user"),
    "internal": (10, "Internal server error"),
    "captcha": (14, "Captcha needed"),
    "group_auth": (27, "Group authorization failed: method is unavailable with group auth."),
    "rate_limit_reached": (29, "Rate limit reached"),
    "invalid_param": (100, "One of the parameters specified was missing or invalid"),
    "deny_send": (901, "Can't send messages for users without permission"),
    "privacy": (902, "Can't send messages to this user due to their privacy settings"),
}
_REFUSALS = {
    900: "Can't send messages for users from blacklist",
    901: _ERRORS["deny_send"][1],
    902: _ERRORS["privacy"][1],
}
# What a bare ``fail_next(status)`` answers: VK's own error, inside HTTP 200.
_KIND_FOR_STATUS = {400: "invalid_param", 401: "auth_failed", 403: "permission", 500: "internal"}
MAX_MESSAGE_CHARS = 9000
MAX_ATTACHMENTS = 10
_ATTACHMENT_TYPES = ("photo", "video", "audio", "doc", "wall", "market")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_INTEGER = re.compile(r"-?[0-9]{1,20}")


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received (the token kept out of ``params``)."""

    method: str  # the HTTP method
    api_method: str  # e.g. "messages.send"
    params: dict[str, str]  # query + form, as sent
    token: str | None
    auth_in: Literal["header", "params"] | None
    content_type: str
    answer: Any = None


@dataclass(slots=True)
class DeliveredMessage:
    """A message the fake accepted."""

    id: int
    peer_id: int
    text: str
    attachment: str | None
    random_id: int
    token: str
    time: float


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` calls with a valid token; with ``deliver`` the
    message is sent (and its ``random_id`` remembered) before the error is answered;
    ``delay_s`` is how late a "slow_answer" comes."""

    deliver: bool = False
    delay_s: float = 30.0


def _error(code: int, message: str, params: dict[str, str], **extra: Any) -> dict[str, Any]:
    echoed = [{"key": key, "value": value} for key, value in params.items()]
    return {"error": {"error_code": code, "error_msg": message, "request_params": echoed, **extra}}


def _int(raw: str | None, *, bits: int) -> int | None:
    """``raw`` as a signed integer of ``bits`` bits, or ``None`` (missing, not one, too big)."""
    if raw is None or not _INTEGER.fullmatch(raw):
        return None
    value, bound = int(raw), 2 ** (bits - 1)
    return value if -bound <= value < bound else None


def _attachment_ok(raw: str) -> bool:
    items = raw.split(",")
    if len(items) > MAX_ATTACHMENTS:
        return False
    for item in items:
        kind = next((t for t in _ATTACHMENT_TYPES if item.startswith(t)), None)
        if kind is None:
            return False
        owner, _, rest = item[len(kind) :].partition("_")
        media = rest.partition("_")[0]
        if not owner.removeprefix("-").isdigit() or not media.isdigit():
            return False
    return True


class FakeVK(FakeServer[RecordedCall, Injection]):
    """A fake VK API on ``host:port`` (0: a free port), started by ``async with``.

    ``tokens``: the community tokens it accepts (empty: any non-empty token).
    ``dedup_window_s``: how long a (token, ``random_id``) is remembered.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[str] = (),
        dedup_window_s: float = 3600.0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.tokens = set(tokens)
        self.dedup_window_s = dedup_window_s
        self.messages: list[DeliveredMessage] = []
        self.refused: dict[int, int] = {}
        self._sent: dict[tuple[str, int], DeliveredMessage] = {}
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/method/{api_method}", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        deliver: bool = False,
        delay_s: float = 30.0,
    ) -> Injection:
        """Make the next ``times`` calls (None: all) with a valid token fail with ``kind``.

        Statuses, stalls and dropped connections are the shared faults
        (:meth:`~integrations.testing.FakeServer.fail_next`, ``stall_next``, ``drop_next``).
        """
        return self.queue(Injection(kind=kind, remaining=times, deliver=deliver, delay_s=delay_s))

    def refuse(self, peer_id: int, *, code: int = 901) -> None:
        """From now on, messages to ``peer_id`` get ``code`` (900 blacklist, 901 no permission,
        902 privacy settings)."""
        self.refused[peer_id] = code

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """VK's own errors (400, 401, 403, 429 without a wait, 500) as its error object inside
        HTTP 200; any other status bare, as a proxy in front of VK sends it."""
        kind = "too_many_rps" if status == 429 and retry_after_s is None else None
        kind = kind or _KIND_FOR_STATUS.get(status)
        if kind is not None:
            code, text = _ERRORS[kind]
            return web.json_response(_error(code, text, {"method": "messages.send"}))
        return web.Response(status=status, text=message, headers=self.retry_after(retry_after_s))

    def clear(self) -> None:
        """Forget calls, messages, remembered ``random_id``s, refusals and injections."""
        super().clear()
        self.messages.clear()
        self.refused.clear()
        self._sent.clear()

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        try:
            if request.content_type in FORM_TYPES:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
            else:
                await request.read()  # VK ignores a body of any other type (JSON included)
        except ConnectionResetError:  # the client gave up (after a stall): nothing arrived
            return self.disconnect(request)
        header = request.headers.get("Authorization", "")
        auth_in: Literal["header", "params"] | None = None
        token = params.pop("access_token", None)
        if header.startswith("Bearer "):
            token, auth_in = header.removeprefix("Bearer ").strip(), "header"
        elif token is not None:
            auth_in = "params"
        call = RecordedCall(
            method=request.method, api_method=request.match_info["api_method"], params=params,
            token=token, auth_in=auth_in, content_type=request.content_type,
            headers=dict(request.headers),
        )  # fmt: skip
        self.calls.append(call)
        echoed = {"method": call.api_method, "oauth": "1", **params}
        if token:
            echoed["access_token"] = token  # as VK's own error example shows
        answer = self._answer(call, echoed)
        if answer is None:  # a lost answer: the message was sent
            return self.disconnect(request)
        if isinstance(answer, tuple):  # a slow answer: sent, and answered late
            delay_s, sent = answer
            await self.wait_unless_closing(delay_s)
            answer = self._reply(sent, echoed)
        call.answer = answer
        response = web.json_response(answer)  # errors too: HTTP 200
        call.status = response.status
        return response

    def _answer(
        self, call: RecordedCall, echoed: dict[str, str]
    ) -> dict[str, Any] | tuple[float, DeliveredMessage] | None:
        """The answer's body; ``None`` to cut the connection; (seconds, message) to answer
        that message only after a wait."""
        if not call.token:
            return _error(5, "User authorization failed: no access_token passed.", echoed)
        if self.tokens and call.token not in self.tokens:
            return _error(5, _ERRORS["auth_failed"][1], echoed)
        if "v" not in call.params:
            return _error(8, "Invalid request: v is required", echoed)
        if call.api_method != "messages.send":
            return _error(3, "Unknown method passed", echoed)
        injection = self.take_injection()
        if injection is None:
            return self._reply(self._send(call, call.token), echoed)
        if injection.kind in ("lost_answer", "slow_answer"):
            sent = self._send(call, call.token)
            if not isinstance(sent, DeliveredMessage):
                return self._reply(sent, echoed)
            return None if injection.kind == "lost_answer" else (injection.delay_s, sent)
        if injection.deliver:
            self._send(call, call.token)
        code, text = _ERRORS[injection.kind]
        extra: dict[str, Any] = {}
        if code == 14:
            extra = {
                "captcha_sid": "239633676097",
                "captcha_img": "https://api.vk.ru/captcha.php?sid=239633676097&s=1",
            }
        return _error(code, text, echoed, **extra)

    @staticmethod
    def _reply(
        sent: DeliveredMessage | str | tuple[int, str], echoed: dict[str, str]
    ) -> dict[str, Any]:
        if isinstance(sent, DeliveredMessage):
            return {"response": sent.id}
        if isinstance(sent, str):
            return _error(100, sent, echoed)
        return _error(*sent, echoed)

    def _send(self, call: RecordedCall, token: str) -> DeliveredMessage | str | tuple[int, str]:
        """Deliver (or dedupe) ``call``'s message; VK's complaint otherwise: a text for a 100,
        a (code, message) for another error."""
        params = call.params
        peer_id = _int(params.get("peer_id"), bits=64)
        if not peer_id:
            return "One of the parameters specified was missing or invalid: peer_id is invalid"
        if "random_id" not in params:
            return (
                "One of the parameters specified was missing or invalid: random_id is a "
                "required parameter"
            )
        random_id = _int(params["random_id"], bits=32)
        if random_id is None:
            return "One of the parameters specified was missing or invalid: random_id not integer"
        text, attachment = params.get("message", ""), params.get("attachment")
        if not text and not attachment:
            return "One of the parameters specified was missing or invalid: message is empty"
        if len(text) > MAX_MESSAGE_CHARS:
            return 914, "Message is too long"
        if attachment is not None and not _attachment_ok(attachment):
            return "One of the parameters specified was missing or invalid: attachment is invalid"
        if peer_id in self.refused:
            code = self.refused[peer_id]
            return code, _REFUSALS.get(code, "Access denied")
        now = time.monotonic()
        if random_id != 0:
            earlier = self._sent.get((token, random_id))
            if earlier is not None and now - earlier.time < self.dedup_window_s:
                return earlier  # the same message: its id again, nothing sent
        message = DeliveredMessage(
            next(self._ids), peer_id, text, attachment, random_id, token, now
        )
        self.messages.append(message)
        if random_id != 0:
            self._sent[(token, random_id)] = message
        return message


CONTRACT_TOKEN = "vk1.a.c0ntractT0kenF0rTheFakeVKc0mmunity7f3a9b2e"  # noqa: S105 - the fake's
CONTRACT = ContractSubject(
    service="vk",
    fake=lambda: FakeVK(tokens={CONTRACT_TOKEN}),
    credentials={"token": CONTRACT_TOKEN},
    configs={"vk_send_message": {"peer_id": 12345, "message": "contract"}},
    invalid_configs={
        "vk_send_message": [
            ({"message": "x"}, "peer_id"),
            ({"peer_id": 12345}, "$"),  # neither a message nor an attachment
            ({"peer_id": 0, "message": "x"}, "peer_id"),
            ({"peer_id": "12345", "message": "x"}, "peer_id"),
            ({"peer_id": 2**63, "message": "x"}, "peer_id"),
            ({"peer_id": 1, "message": ""}, "message"),
            ({"peer_id": 1, "message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
            ({"peer_id": 1, "attachment": []}, "attachment"),
            ({"peer_id": 1, "attachment": ["photo1_2"] * 11}, "attachment"),
            ({"peer_id": 1, "attachment": ["https://example.com/cat.jpg"]}, "attachment"),
            ({"peer_id": 1, "attachment": ["sticker1_2"]}, "attachment"),
            ({"peer_id": 1, "message": "x", "keyboard": "{}"}, "keyboard"),
            ({"peer_id": 1, "message": "x", "random_id": 5}, "random_id"),
            ({"peer_id": 1, "message": "x", "access_token": "t"}, "access_token"),
            ({"peer_id": 1, "message": "x", "disable_mentions": "1"}, "disable_mentions"),
        ],
    },
)
