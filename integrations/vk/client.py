"""What VK actions share: the community token, ``random_id``, and how the VK API answers.

**Why httpx, not an SDK.** VK publishes no official Python SDK. ``vk-api`` (11.x) is synchronous
(``requests``) and ``vkbottle`` (4.x) is a bot framework with its own aiohttp session, polling
and retry loop; neither takes our shared client. ``messages.send`` is one form POST.

**The wire** (verified, see below): ``POST <base>/method/messages.send`` with the parameters
form-encoded (``application/x-www-form-urlencoded``; VK does not support ``application/json``
bodies), the API version ``v`` with every call, and the community token in the
``Authorization: Bearer`` header, which VK accepts instead of the ``access_token`` parameter, so
the token is never part of a URL. It is still registered as a secret.

**Errors come inside HTTP 200**: ``{"error": {"error_code", "error_msg", "request_params"}}``.
``request_params`` echoes the request's parameters (VK's own captcha example shows the
``access_token`` in it), so it is never read: messages carry only the code and ``error_msg``.
:class:`VK` decides by ``error_code``; ``peer_id`` is named in every message (the seam's ``what``):

============================  ===========================  ====================================
error_code                    our error (code)             why
============================  ===========================  ====================================
6 too many requests/s         RateLimitedError, 1 s        the limit is per second
9 flood control               RateLimitedError, 60 s       **decided**: too many messages to one
                                                           peer (VK's FAQ: over 1000 an hour).
                                                           It cannot be lifted, but it passes:
                                                           a later retry can deliver, where a
                                                           permanent error would drop it (the
                                                           processor weighs 60 s against the
                                                           request's deadline)
29 rate limit reached         RateLimitedError, 3600 s     a method's daily quota
14 captcha needed             PermanentError (400)         a bot cannot solve a captcha
5, 27, 28 authorization       AuthError (401)              the token is invalid, revoked or not
failed                                                     a community/app token that fits
7 permission denied           AuthError (403)              the token lacks the ``messages`` right
100, 113, 914                 InvalidConfigError (400)     a parameter (or the text) refused
1 unknown, 10 internal        OutcomeUnknownError (502)    VK failed, maybe after sending; a
                                                           retry reuses ``random_id``: no double
900, 901, 902, 15, 18, 932,   PermanentError (403)         this peer cannot be written to (the
936, 945, 946, 950, 983, 984                               blacklist, no permission, privacy)
other codes                   PermanentError (400)         asking again gets the same answer
============================  ===========================  ====================================

A non-200 answer (VK's own answers are all 200; a proxy or an outage is not) goes by status
through :func:`integrations.provider.status_error`; a 200 that is not ``{"response": <int>}``
is not VK's answer (``TransientError`` 502).

**Idempotency.** ``random_id`` (int32) is VK's dedup key per sender: a second
``messages.send`` with the same one sends nothing and answers the first message's id.
:func:`random_id` derives it from the request's idempotency key, so every retry and redelivery
of one request carries the same ``random_id``.

**Verified** (search tool, 2026-12): dev.vk.com/ru/api/api-requests (hosts ``api.vk.com`` and
``api.vk.ru``, ``Authorization: Bearer``, POST bodies form-encoded or multipart, JSON not
supported, ``v=5.199`` in its examples); dev.vk.com/en/method/messages.send (``peer_id`` for a
user, ``2000000000 + chat_id``, ``-community_id``; community tokens allowed; returns the message
id); VKCOM/vk-api-schema (``random_id`` an integer without ``int64`` format, i.e. int32;
``peer_id`` int64; ``message`` and ``attachment`` ``maxLength`` 9000; error codes and names
above); dev.vk.com/en/api/captcha-error (code 14, ``request_params`` echoing ``access_token``);
VK's rate limit of 20 requests/s per community token (its api_requests page, as quoted by a
third-party copy; the current page did not show it); flood control (9) from VK's FAQ 11583 as
quoted by help.vposter.ru. **Not verified**: how long VK remembers a ``random_id`` (the 2019
page said the whole history; see ``idempotency_window_s`` in ``send_message.py``), that a
repeat answers the first message's id (the fake does; the docs say only that it is not sent
again), and the cap of 10 attachments (``send_message.py``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from integrations.base import Category
from integrations.bot_logger import BotLogger
from integrations.context import provider_idempotency_key
from integrations.credentials.fields import SecretField
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
)
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s
from integrations.service import Service

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "TOKEN",
    "VK",
    "VK_SERVICE",
    "random_id",
]

VK_SERVICE = Service("vk", Category.MESSAGING, "#0077FF")

DEFAULT_BASE_URL = "https://api.vk.ru"
API_VERSION = "5.199"

TOKEN = SecretField(
    provider=VK_SERVICE.name, fields=("token", "access_token"), strip=True,
    example='{"token": "<community access token: community settings, API usage>"}',
)  # fmt: skip
"""The community's access token, in the bot's ``vk`` credentials (``access_token`` too)."""

#: Seconds to wait per rate-limit code (VK sends no Retry-After).
_WAITS = {6: 1.0, 9: 60.0, 29: 3600.0}
_AUTH = frozenset({5, 27, 28})
_CONFIG = frozenset({100, 113, 914})
_UNKNOWN = frozenset({1, 10})
_PEER = frozenset({15, 18, 900, 901, 902, 932, 936, 945, 946, 950, 983, 984})
_MAX_MESSAGE_CHARS = 300


class VK(Provider):
    """VK's answers: ``{"response": ...}``, or ``{"error": {...}}`` inside HTTP 200."""

    name = "VK"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        if not response.is_success:
            return True
        # messages.send to one peer_id answers the new message's id, a number.
        if not isinstance(data, dict) or "error" in data:
            return True
        answer = data.get("response")
        return not isinstance(answer, int) or isinstance(answer, bool)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """``error_code`` and ``error_msg``; ``request_params`` is never read (it echoes the
        request, a token included)."""
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return ErrorDetail()
        code = error.get("error_code")
        message = error.get("error_msg")
        if not isinstance(code, int) or isinstance(code, bool):
            code = None
        return ErrorDetail(
            code=None if code is None else str(code),
            message=message[:_MAX_MESSAGE_CHARS] if isinstance(message, str) and message else None,
            parameters={} if code is None else {"vk_error_code": code},
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        if detail.code is None:
            return None  # not VK's error object: by status (200: "not a VK answer")
        code = int(detail.code)
        text = detail.message or "no message"
        label = f"error {code}"
        params = dict(detail.parameters)

        def said(hint: str = "") -> str:
            return call.message(f"{text}{hint}", label=label)

        if code in _WAITS:
            wait = retry_after_s(response.headers) or _WAITS[code]
            return RateLimitedError(said(), retry_after_s=wait, parameters=params)
        if code == 14:
            return PermanentError(
                said("; VK asks for a captcha, which a bot cannot solve: send less often"),
                parameters=params,
            )
        if code in _AUTH:
            return AuthError(said("; check this bot's VK community token"), parameters=params)
        if code == 7:
            return AuthError(
                said("; give the community token the 'messages' access right"),
                code=403,
                parameters=params,
            )
        if code in _CONFIG:
            return InvalidConfigError(said("; fix the action's config"), parameters=params)
        if code in _UNKNOWN:
            return OutcomeUnknownError(said(), code=502, parameters=params)
        if code in _PEER:
            return PermanentError(
                said("; this peer cannot be written to by the community"),
                code=403,
                parameters=params,
            )
        return PermanentError(said(), parameters=params)


def random_id(logger: BotLogger | None = None) -> int:
    """The ``random_id`` of this request: a signed int32 derived from its idempotency key.

    The same key always gives the same value (the first four bytes of its SHA-256), so every
    attempt of one request is one message at VK. Never 0, the value clients send when they
    want no deduplication.
    Different requests collide with probability 2**-32 per pair; VK then drops the second as a
    duplicate, which is the price of VK's int32 field.
    """
    key = provider_idempotency_key(max_chars=1024, header="random_id", logger=logger)
    digest = hashlib.sha256(f"vk.random_id:{key}".encode()).digest()
    value = int.from_bytes(digest[:4], "big", signed=True)
    return value or 1
