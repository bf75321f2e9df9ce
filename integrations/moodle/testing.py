"""A fake Moodle site's REST web services (messaging): real HTTP on loopback.

    async with FakeMoodle() as fake:                      # 127.0.0.1:<free port>
        creds = {"site_url": fake.url, "token": "t0k"}    # the site URL comes from credentials
        fake.add_user(5)
        fake.inject("invalid_token")                      # the next call gets Moodle's exception
        fake.fail_next(503)                               # sitemaintenance, in a 200 (see below)
        fake.messages                                     # what was delivered

``/webservice/rest/server.php`` takes ``wstoken``, ``wsfunction``, ``moodlewsrestformat`` and the
function's PHP-array arguments from the query string or a form body, as Moodle does
(external-apis.md §8.3). **Errors come inside HTTP 200** as ``{"exception", "errorcode",
"message"}`` (``debuginfo`` too for invalid parameters); without ``moodlewsrestformat=json`` the
answer is XML. ``core_message_send_instant_messages`` answers a list with one item per message:
``msgid`` and the message's details, or ``msgid: -1`` + ``errormessage`` when refused (unknown
user, too long, recipient's privacy settings), as ``core_message_external`` does;
``core_webservice_get_site_info`` answers a minimal site record, and any other function Moodle's
``invalidrecord``. If web
services are disabled the site answers a bare HTTP 403 ("ws_disabled").

A bare ``fail_next(status)`` answers in Moodle's shape (:meth:`FakeMoodle.error_response`): the
statuses Moodle itself reports (400, 401, 403, 503) as its exception inside a 200, any other
bare, as PHP or a proxy in front of the site would. ``CONTRACT`` runs the shared contract suite
(``tests/integrations/test_contract.py``) against this fake.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.settings import IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "DeliveredMessage", "FakeMoodle", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "invalid_token",  # moodle_exception invalidtoken
    "access_exception",  # webservice_access_exception accessexception
    "no_permission",  # required_capability_exception nopermissions
    "invalid_parameter",  # invalid_parameter_exception invalidparameter
    "messaging_disabled",  # moodle_exception disabled
    "site_maintenance",  # moodle_exception sitemaintenance
    "ws_disabled",  # bare HTTP 403, no JSON
    "html",  # HTTP 200 with an HTML page (a login page: wrong site URL)
]
_EXCEPTIONS: dict[str, tuple[str, str, str]] = {
    "invalid_token": ("moodle_exception", "invalidtoken", "Invalid token - token not found"),
    "access_exception": (
        "webservice_access_exception",
        "accessexception",
        "Access control exception",
    ),
    "no_permission": (
        "required_capability_exception",
        "nopermissions",
        "Sorry, but you do not currently have permissions to do that (Send messages to any user).",
    ),
    "invalid_parameter": (
        "invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
    ),
    "messaging_disabled": ("moodle_exception", "disabled", "Messaging is disabled on this site"),
    "site_maintenance": (
        "moodle_exception",
        "sitemaintenance",
        "The site is undergoing maintenance and is currently not available",
    ),
}
# What error_response (a bare ``fail_next(status)``) answers: Moodle's own exception, in a 200.
_EXCEPTION_FOR_STATUS = {
    400: "invalid_parameter",
    401: "invalid_token",
    403: "access_exception",
    503: "site_maintenance",
}
SEND_FUNCTION = "core_message_send_instant_messages"
SITE_INFO_FUNCTION = "core_webservice_get_site_info"
MESSAGE_MAX_LENGTH = 4096  # core_message\api::MESSAGE_MAX_LENGTH, compared with strlen (bytes)
_ARG = re.compile(r"^messages\[(\d+)\]\[(\w+)\]$")


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    params: dict[str, str]  # query + form, flat (``messages[0][text]`` keys as sent)
    answer: Any = None  # the JSON answered (None for non-JSON answers)

    @property
    def token(self) -> str | None:
        return self.params.get("wstoken")

    @property
    def function(self) -> str | None:
        return self.params.get("wsfunction")


@dataclass(slots=True)
class DeliveredMessage:
    """A message the fake site accepted."""

    id: int
    from_user_id: int
    to_user_id: int
    text: str
    text_format: int
    conversation_id: int
    time_created: int


_Injection = BaseInjection[FaultKind]


@dataclass(slots=True)
class _User:
    id: int
    can_be_messaged: bool = True


def _exception(kind: str, debuginfo: str | None = None) -> dict[str, Any]:
    exception, errorcode, message = _EXCEPTIONS[kind]
    body: dict[str, Any] = {"exception": exception, "errorcode": errorcode, "message": message}
    if debuginfo:
        body["debuginfo"] = debuginfo
    return body


class FakeMoodle(FakeServer[RecordedCall, _Injection]):
    """A fake Moodle site on ``host:port`` (0: a free port), started by ``async with``.

    Tokens: any non-empty token is accepted as user 2 (the admin) unless ``accept_any_token`` is
    False; then only tokens given to :meth:`add_token` are. Users 2-5 exist from the start.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, accept_any_token: bool = True
    ) -> None:
        super().__init__(host=host, port=port)
        self.accept_any_token = accept_any_token
        self.messages: list[DeliveredMessage] = []
        self.users: dict[int, _User] = {n: _User(n) for n in range(2, 6)}
        self._tokens: dict[str, tuple[int, frozenset[str] | None]] = {}
        self._ids = itertools.count(1)
        self._conversations: dict[frozenset[int], int] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/webservice/rest/server.php", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def add_token(
        self, token: str, *, user_id: int = 2, functions: list[str] | None = None
    ) -> None:
        """A token acting as ``user_id``; ``functions`` (None: all) its service's functions."""
        self._tokens[token] = (user_id, None if functions is None else frozenset(functions))

    def add_user(self, user_id: int, *, can_be_messaged: bool = True) -> None:
        """A user; with ``can_be_messaged=False`` their privacy settings refuse messages."""
        self.users[user_id] = _User(user_id, can_be_messaged)

    def inject(self, kind: FaultKind, *, times: int | None = 1) -> None:
        """Make the next ``times`` requests (None: all) fail with ``kind``.

        Statuses, stalls and dropped connections are the shared faults
        (:meth:`~integrations.testing.FakeServer.fail_next`, ``stall_next``, ``drop_next``).
        """
        self.queue(_Injection(kind=kind, remaining=times))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Moodle's own errors (400, 401, 403, 503) as its exception envelope inside HTTP 200,
        as the real site answers them; any other status bare, as PHP or a proxy sends it."""
        kind = _EXCEPTION_FOR_STATUS.get(status)
        if kind is not None:
            return web.json_response(_exception(kind))
        headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
        return web.Response(status=status, text=message, headers=headers)

    def clear(self) -> None:
        """Forget calls, messages and injections (tokens and users stay)."""
        super().clear()
        self.messages.clear()

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        call = RecordedCall(method=request.method, params=params, headers=dict(request.headers))
        self.calls.append(call)
        response = self._answer(call)
        call.status = response.status
        return response

    def _answer(self, call: RecordedCall) -> web.Response:
        injection = self.take_injection()
        kind = injection.kind if injection is not None else None
        if kind is not None and kind in _EXCEPTIONS:
            return self._reply(call, _exception(kind))
        if kind == "ws_disabled":
            return web.Response(status=403, text="Forbidden")
        if kind == "html":
            return web.Response(
                text="<html><title>Log in to the site</title></html>", content_type="text/html"
            )
        return self._reply(call, self._execute(call))

    def _reply(self, call: RecordedCall, answer: Any) -> web.Response:
        call.answer = answer
        if call.params.get("moodlewsrestformat") == "json":
            return web.json_response(answer)  # errors too: HTTP 200
        if isinstance(answer, dict) and "exception" in answer:
            xml = (
                f'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="'
                f'{answer["exception"]}">\n<ERRORCODE>{answer["errorcode"]}</ERRORCODE>\n'
                f"<MESSAGE>{html.escape(answer['message'])}</MESSAGE>\n</EXCEPTION>\n"
            )
        else:
            xml = '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n</RESPONSE>\n'
        return web.Response(text=xml, content_type="application/xml")

    def _execute(self, call: RecordedCall) -> Any:
        token = call.token or ""
        known = self._tokens.get(token)
        if known is None and (not token or not self.accept_any_token):
            return _exception("invalid_token")
        sender, functions = known or (2, None)
        function = call.function or ""
        if function not in (SEND_FUNCTION, SITE_INFO_FUNCTION):
            return {
                "exception": "dml_missing_record_exception",
                "errorcode": "invalidrecord",
                "message": "Can't find data record in database table external_functions.",
            }
        if functions is not None and function not in functions:
            return _exception("access_exception")
        if function == SITE_INFO_FUNCTION:
            return {"sitename": "Fake Moodle", "userid": sender, "release": "4.5 (Build: fake)"}
        messages = _messages(call.params)
        if isinstance(messages, str):
            return _exception("invalid_parameter", debuginfo=messages)
        return [self._send(sender, message) for message in messages]

    def _send(self, sender: int, message: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if "clientmsgid" in message:
            result["clientmsgid"] = message["clientmsgid"]
        to = self.users.get(message["touserid"])
        error = None
        if to is None:
            error = (
                f"You are trying to send a message to a user ID ({message['touserid']}) "
                "that doesn't exist"
            )
        elif len(message["text"].encode()) > MESSAGE_MAX_LENGTH:
            error = "The message is longer than allowed"
        elif not to.can_be_messaged:
            error = f"You are unable to message User {to.id}"
        if error is not None:
            return {**result, "msgid": -1, "errormessage": error}
        assert to is not None
        pair = frozenset({sender, to.id})
        conversation = self._conversations.setdefault(pair, len(self._conversations) + 1)
        delivered = DeliveredMessage(
            next(self._ids),
            sender,
            to.id,
            message["text"],
            message["textformat"],
            conversation,
            int(time.time()),
        )
        self.messages.append(delivered)
        return {
            **result,
            "msgid": delivered.id,
            "timecreated": delivered.time_created,
            "candeletemessagesforallusers": False,
            "conversationid": conversation,
            "useridfrom": sender,
            "text": f'<div class="text_to_html">{html.escape(delivered.text)}</div>',
        }


def _messages(params: dict[str, str]) -> list[dict[str, Any]] | str:
    """The ``messages[i][field]`` arguments as dicts, or Moodle's debuginfo for bad ones."""
    found: dict[int, dict[str, str]] = {}
    for name, value in params.items():
        if match := _ARG.match(name):
            found.setdefault(int(match[1]), {})[match[2]] = value
    if not found:
        return (
            "messages => Invalid parameter value detected: Missing required key in single "
            "structure: messages"
        )
    messages = []
    for index in sorted(found):
        raw = found[index]
        for key in ("touserid", "text"):
            if key not in raw:
                return (
                    f"messages => Invalid parameter value detected: Missing required key in "
                    f"single structure: {key}"
                )
        unknown = set(raw) - {"touserid", "text", "textformat", "clientmsgid"}
        if unknown:
            return f"Unexpected keys ({', '.join(sorted(unknown))}) detected in parameter array"
        try:
            message = {
                "touserid": int(raw["touserid"]),
                "text": raw["text"],
                "textformat": int(raw.get("textformat", "0")),
            }
        except ValueError:
            return "touserid => Invalid parameter value detected: Integer expected"
        if "clientmsgid" in raw:
            message["clientmsgid"] = raw["clientmsgid"]
        messages.append(message)
    return messages


CONTRACT_TOKEN = "0f3c9a5e7b2d4c6a8e1f3b5d7a9c2e4f"  # noqa: S105 - the fake's, not a secret
# Moodle's site URL is part of the credentials, not an endpoint setting: the contract's
# settings() writes the URL it is given (the fake's, or a closed port's) into them.
_CONTRACT_CREDENTIALS = {"site_url": "http://127.0.0.1", "token": CONTRACT_TOKEN}


@dataclass(frozen=True)
class _MoodleContract(ContractSubject):
    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        _CONTRACT_CREDENTIALS["site_url"] = url
        return super().settings(url, timeout_s=timeout_s)


def _contract_fake() -> FakeMoodle:
    fake = FakeMoodle(accept_any_token=False)
    fake.add_token(CONTRACT_TOKEN)
    return fake


CONTRACT = _MoodleContract(
    service="moodle",
    fake=_contract_fake,
    credentials=_CONTRACT_CREDENTIALS,
    configs={"moodle_send_message": {"user_id": 5, "text": "contract"}},
    invalid_configs={
        "moodle_send_message": [
            ({"text": "x"}, "user_id"),
            ({"user_id": 0, "text": "x"}, "user_id"),
            ({"user_id": "5", "text": "x"}, "user_id"),
            ({"user_id": 5}, "text"),
            ({"user_id": 5, "text": ""}, "text"),
            ({"user_id": 5, "text": "x" * 4097}, "text"),
            ({"user_id": 5, "text": "x", "text_format": "rtf"}, "text_format"),
            ({"user_id": 5, "text": "x", "wstoken": "t"}, "wstoken"),
        ],
    },
)
