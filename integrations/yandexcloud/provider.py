"""How Yandex Cloud APIs answer errors: ``google.rpc.Status``, its gRPC code deciding.

Yandex Cloud's REST APIs describe errors with ``google.rpc.Status`` ("Handling errors in the
Yandex Cloud API", API design guide; Translate's "Handling errors")::

    {"code": 16, "message": "Token is invalid or has expired.",
     "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "e38e..."}]}

Foundation Models' REST gateway is also seen answering the grpc-gateway shape ``{"error":
{"grpcCode", "httpCode", "message", "httpStatus", "details"}}`` (reported by its users; not in
Yandex's documentation): both are read. The gRPC code is mapped as Foundation Models' "Error
codes" page and the design guide's table say; what the seam's status table would get wrong is
decided here:

===========================  ======================  ======================================
gRPC code (HTTP)             our error (code)        why
===========================  ======================  ======================================
16 UNAUTHENTICATED (401)     AuthError (401)         a wrong or expired key / IAM token
7 PERMISSION_DENIED (403)    AuthError (403)         the account lacks the service's role on
                                                     the folder: the message names both
8 RESOURCE_EXHAUSTED (429)   RateLimitedError        a quota; Yandex documents no wait, so
                                                     ``Retry-After`` / ``RetryInfo`` if sent,
                                                     else the processor backs off
3 INVALID_ARGUMENT,          InvalidConfigError      the values the config gave (a prompt too
11 OUT_OF_RANGE (400)        (400)                   long, a language Yandex does not know)
14 UNAVAILABLE (503)         TransientError (503)    the service did not take the request
13 INTERNAL, 2 UNKNOWN,      TransientError          nothing these read-only actions do can
4 DEADLINE_EXCEEDED (5xx)                            have happened twice
9 FAILED_PRECONDITION,       PermanentError          e.g. the billing account is not active:
5 NOT_FOUND, other 4xx                               a person has to act
===========================  ======================  ======================================

A body without a known gRPC code falls back to the seam's status table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import httpx

from integrations.errors import IntegrationError, InvalidConfigError
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s, status_error

__all__ = ["GRPC_CODES", "YandexCloud"]

#: ``google.rpc.Code``: its name and the HTTP status it maps to.
GRPC_CODES: dict[int, tuple[str, int]] = {
    1: ("CANCELLED", 499),
    2: ("UNKNOWN", 500),
    3: ("INVALID_ARGUMENT", 400),
    4: ("DEADLINE_EXCEEDED", 504),
    5: ("NOT_FOUND", 404),
    6: ("ALREADY_EXISTS", 409),
    7: ("PERMISSION_DENIED", 403),
    8: ("RESOURCE_EXHAUSTED", 429),
    9: ("FAILED_PRECONDITION", 400),
    10: ("ABORTED", 409),
    11: ("OUT_OF_RANGE", 400),
    12: ("UNIMPLEMENTED", 501),
    13: ("INTERNAL", 500),
    14: ("UNAVAILABLE", 503),
    15: ("DATA_LOSS", 500),
    16: ("UNAUTHENTICATED", 401),
}
_CONFIG_CODES = frozenset({3, 11})
_PERMISSION_DENIED = 7
_REQUEST_INFO = "google.rpc.RequestInfo"
_RETRY_INFO = "google.rpc.RetryInfo"


class YandexCloud(Provider):
    """A Yandex Cloud API's answers: ``google.rpc.Status`` errors, plain or ``{"error": ...}``.

    A service subclasses it with its ``name``, the key its success answers carry
    (``success_key``) and the IAM ``role`` a 403 asks for.
    """

    name = "Yandex Cloud"
    success_key: ClassVar[str] = ""
    role: ClassVar[str] = ""

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        answered = isinstance(data, dict) and self.success_key in data
        return not response.is_success or not answered

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """The Status's code name (``RESOURCE_EXHAUSTED``) and message; ``grpc_code`` and the
        ``RequestInfo`` request id in the parameters."""
        status = _status(data)
        if status is None:
            return super().detail(response, data)
        code = status.get("grpcCode", status.get("code"))
        assert isinstance(code, int)  # _status checked it
        details = status.get("details")
        details = details if isinstance(details, list) else []
        parameters: dict[str, Any] = {"grpc_code": code}
        request_id = _detail(details, _REQUEST_INFO, "requestId")
        if isinstance(request_id, str) and request_id:
            parameters["request_id"] = request_id[:64]
        message = status.get("message")
        wait = retry_after_s(response.headers)
        return ErrorDetail(
            code=GRPC_CODES[code][0],
            message=message if isinstance(message, str) and message else None,
            retry_after_s=_retry_info(details) if wait is None else wait,
            parameters=parameters,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        code = detail.parameters.get("grpc_code")
        if not isinstance(code, int) or code not in GRPC_CODES:
            return None
        status = GRPC_CODES[code][1]
        if code in _CONFIG_CODES:
            error = status_error(call, status, detail)
            return InvalidConfigError(error.message, code=400, parameters=error.parameters)
        if code == _PERMISSION_DENIED:
            said = detail.message or "Permission denied"
            need = f"{said}; the account needs the {self.role!r} role on the folder"
            return status_error(call, 403, replace(detail, message=need))
        return status_error(call, status, detail, headers=response.headers)


def _status(data: Any) -> dict[str, Any] | None:
    """The Status object of an error body (plain, or under ``error``), if it has a known code."""
    if not isinstance(data, dict):
        return None
    inner = data.get("error")
    status = inner if isinstance(inner, dict) else data
    code = status.get("grpcCode", status.get("code"))
    if isinstance(code, bool) or not isinstance(code, int) or code not in GRPC_CODES:
        return None
    return status


def _detail(details: list[Any], kind: str, key: str) -> object:
    for item in details:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith(kind):
            return item.get(key)
    return None


def _retry_info(details: list[Any]) -> float | None:
    """``RetryInfo.retryDelay`` (``"3s"``, ``"1.5s"``) in seconds, if a detail carries one."""
    delay = _detail(details, _RETRY_INFO, "retryDelay")
    if not isinstance(delay, str) or not delay.endswith("s"):
        return None
    try:
        seconds = float(delay[:-1])
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None
