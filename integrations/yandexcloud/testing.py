"""The base of the Yandex Cloud fakes: auth, folders and ``google.rpc.Status`` errors, once.

A service's fake (``integrations/yandexgpt/testing.py``, ``integrations/yandextranslate/
testing.py``) subclasses :class:`FakeYandexCloud` with its ``path``, the folder a request asks
for (:meth:`FakeYandexCloud.requested_folder`) and its answer (:meth:`FakeYandexCloud.answer`).
What is shared, as Yandex Cloud does it:

- ``Authorization: Api-Key <key>`` (a service account's key, acting in its own folder) or
  ``Authorization: Bearer <IAM token>`` (acting in the folders the account has the role in);
  anything else is ``16 UNAUTHENTICATED`` (401), an unknown key echoed in the message;
- a folder the credential has no role in is ``7 PERMISSION_DENIED`` (403);
- errors are ``google.rpc.Status`` (``{"code", "message", "details": [RequestInfo]}``), or with
  ``wrapped_errors`` the gateway's ``{"error": {"grpcCode", "httpCode", "message",
  "httpStatus", "details"}}``; ``fail_next(status)`` answers in that shape with the gRPC code
  of ``status``, and :meth:`FakeYandexCloud.inject` sends Yandex's own faults (a quota's
  ``8 RESOURCE_EXHAUSTED`` 429 among them, without ``Retry-After`` unless asked);
- every call is recorded with its auth scheme and credential kept apart from the other headers
  (:class:`RecordedCall`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal, TypedDict, Unpack

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, FakeServer
from integrations.yandexcloud.provider import GRPC_CODES

__all__ = ["FakeOptions", "FakeYandexCloud", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "resource_exhausted",  # 429, code 8: a quota (requests, concurrent generations, characters)
    "permission_denied",  # 403, code 7: no role on the folder
    "unauthenticated",  # 401, code 16: the token expired
    "invalid_argument",  # 400, code 3
    "failed_precondition",  # 400, code 9: e.g. the billing account is not active
    "unavailable",  # 503, code 14
]
_FAULTS: dict[str, tuple[int, str]] = {
    "resource_exhausted": (8, "ai.languageModels.requests.rate is exceeded"),
    "permission_denied": (7, "Permission denied"),
    "unauthenticated": (16, "The token is invalid or has expired."),
    "invalid_argument": (3, "Request has invalid arguments"),
    "failed_precondition": (9, "Billing account is not active"),
    "unavailable": (14, "Service is temporarily unavailable"),
}
# The gRPC code a plain HTTP status stands for (each status once: 500 is INTERNAL, 400 is
# INVALID_ARGUMENT, 409 ALREADY_EXISTS).
_CODE_OF = {
    status: code for code, (_, status) in GRPC_CODES.items() if code not in (2, 9, 10, 11, 15)
}


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received; ``headers`` hold everything but ``Authorization``."""

    method: str
    path: str
    body: Any  # the decoded JSON body (None if it was not JSON)
    scheme: str | None  # "Api-Key" or "Bearer"
    credential: str | None  # the key or IAM token

    @property
    def fields(self) -> dict[str, Any]:
        """The body when it is a JSON object, else ``{}``."""
        return self.body if isinstance(self.body, dict) else {}


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A Yandex fault for the next ``remaining`` requests (``message`` replaces the default)."""

    retry_after_s: float | None = None
    message: str | None = None


class FakeOptions(TypedDict, total=False):
    """What every Yandex Cloud fake is built with (see :class:`FakeYandexCloud`)."""

    host: str
    port: int
    api_keys: Mapping[str, str] | None
    iam_tokens: Mapping[str, Iterable[str]] | None


class FakeYandexCloud(FakeServer[RecordedCall, Injection]):
    """A fake Yandex Cloud API on ``host:port`` (0: a free port), started by ``async with``.

    ``api_keys`` maps each valid API key to its service account's folder; ``iam_tokens`` each
    valid IAM token to the folders its account has the role in. With neither, any credential is
    accepted in any folder.
    """

    #: The one method the fake serves, e.g. ``/translate/v2/translate``.
    path: ClassVar[str]
    #: Answer errors as ``{"error": {"grpcCode", ...}}`` instead of a plain Status.
    wrapped_errors: ClassVar[bool] = False

    def __init__(self, **options: Unpack[FakeOptions]) -> None:
        super().__init__(host=options.get("host", "127.0.0.1"), port=options.get("port", 0))
        api_keys, iam_tokens = options.get("api_keys"), options.get("iam_tokens")
        self.open = api_keys is None and iam_tokens is None
        self.api_keys = dict(api_keys or {})
        self.iam_tokens = {token: set(folders) for token, folders in (iam_tokens or {}).items()}

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self._handle)

    # -- what a service's fake says --------------------------------------------------------------

    def requested_folder(self, call: RecordedCall) -> str | None:
        """The folder the request names (``None``: it names none)."""
        raise NotImplementedError

    def answer(self, call: RecordedCall, folder: str | None) -> web.Response:
        """The service's answer to an authorised ``call`` acting in ``folder``."""
        raise NotImplementedError

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after_s: float | None = None,
        message: str | None = None,
    ) -> Injection:
        """Make the next ``times`` requests (None: all) fail with ``kind``; ``retry_after_s``
        adds ``Retry-After`` (Yandex documents none). Plain statuses, stalls and dropped
        connections: ``fail_next``, ``stall_next``, ``drop_next``."""
        return self.queue(
            Injection(kind=kind, remaining=times, retry_after_s=retry_after_s, message=message)
        )

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: a Status with the gRPC code of ``status``."""
        code = _CODE_OF.get(status, 13 if status >= 500 else 9)
        return self.status(code, message, http_status=status, retry_after_s=retry_after_s)

    def status(
        self,
        code: int,
        message: str,
        *,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> web.Response:
        """A ``google.rpc.Status`` answer (wrapped when ``wrapped_errors``)."""
        status = http_status or GRPC_CODES[code][1]
        details = [
            {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": str(uuid.uuid4())}
        ]
        body: dict[str, Any] = {"code": code, "message": message, "details": details}
        if self.wrapped_errors:
            phrase = _phrase(status)
            body = {
                "error": {
                    "grpcCode": code,
                    "httpCode": status,
                    "message": message,
                    "httpStatus": phrase,
                    "details": details,
                }
            }
        return web.json_response(body, status=status, headers=self.retry_after(retry_after_s))

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = await request.json()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        call = RecordedCall(
            method=request.method,
            path=request.path,
            headers=headers,
            body=body,
            scheme=scheme or None,
            credential=credential or None,
        )
        self.calls.append(call)
        response = self._respond(call)
        call.status = response.status
        return response

    def _respond(self, call: RecordedCall) -> web.Response:
        if (injection := self.take_injection()) is not None:
            code, message = _FAULTS[injection.kind]
            return self.status(
                code, injection.message or message, retry_after_s=injection.retry_after_s
            )
        folder = self._authorize(call)
        if isinstance(folder, web.Response):
            return folder
        return self.answer(call, folder)

    def _authorize(self, call: RecordedCall) -> str | web.Response | None:
        """The folder the call acts in, or the error Yandex Cloud answers."""
        if call.scheme not in ("Api-Key", "Bearer") or not call.credential:
            return self.status(16, "The token is invalid or has expired.")
        asked = self.requested_folder(call)
        folder: str | None
        if self.open:
            return asked
        if call.scheme == "Api-Key":
            own = self.api_keys.get(call.credential)
            if own is None:
                return self.status(16, f"Unknown api key '{call.credential}'")
            allowed, folder = {own}, asked or own
        else:
            if call.credential not in self.iam_tokens:
                return self.status(16, "The token is invalid or has expired.")
            allowed, folder = self.iam_tokens[call.credential], asked
        if folder is not None and folder not in allowed:
            return self.status(7, f"Permission to [resource-manager.folder {folder}] denied")
        return folder


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
