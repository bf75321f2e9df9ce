"""The one seam every provider call goes through: send, classify, scrub.

An HTTP integration never touches its ``httpx.AsyncClient``; it calls
:meth:`integrations.http.HttpIntegration.call`, which lands in :func:`send` here::

    reply = await self.call("GET", "top-headlines", params=..., headers={"X-Api-Key": key},
                            secrets=[key], logger=logger)
    reply.body  # the parsed JSON object of a success

:func:`send` passes the send gate (through the client's request hook), maps every transport
failure to a typed error that says whether the request may have left (:func:`transport_error`),
maps an error answer to a typed error by status (:func:`status_error`), reading the wait from
``Retry-After`` and the rate-limit headers once (:func:`retry_after_s`), and scrubs every secret
of the request out of the message. What is a service's own lives in its :class:`Provider`:

- :meth:`Provider.detail` reads the service's error body into an :class:`ErrorDetail`;
- :meth:`Provider.error` maps the answers the status alone gets wrong (a rate limit sent with
  HTTP 200, a 403 that is not about credentials, an error code that is about the config);
- :meth:`Provider.is_error` says which answers are errors (default: not 2xx).

Status mapping (:func:`status_error`) for ``writes`` = the action has a side effect:

==================  ===============================  ======================================
answer              error                            why
==================  ===============================  ======================================
401, 403            AuthError                        credentials rejected: refetch once
429                 RateLimitedError                 wait ``Retry-After`` (or the body's)
408, 425, 503       TransientError                   the provider did not take the request
422                 InvalidConfigError               it refused the values the config gave
500, 502, 504, 5xx  OutcomeUnknownError if writes,   it may have acted before failing
                    else TransientError
other 4xx           PermanentError                   asking again gets the same answer
not 2xx/an error    TransientError (502)             not the provider's answer (a proxy's)
==================  ===============================  ======================================
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from integrations.bot_logger import BotLogger, SecretSet, redact_text
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
    "MAX_RESPONSE_BYTES",
    "NOT_SENT",
    "Call",
    "ErrorDetail",
    "Provider",
    "Reply",
    "answer_error",
    "read_bounded",
    "retry_after_s",
    "send",
    "status_error",
    "transport_error",
]

#: Transport failures that happen before a byte of the request is sent.
NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    ConnectionRefusedError,
)

_MAX_DETAIL_CHARS = 300
#: The largest answer read from a provider by default (an action that downloads raises it).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What a provider's error answer says: its own code, message, wait and parameters."""

    code: str | None = None
    message: str | None = None
    retry_after_s: float | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """One provider request, as error messages and classification need to know it."""

    provider: str  # the service's name in messages, e.g. "NewsAPI"
    what: str  # e.g. "GET top-headlines"; never the URL (query strings hold keys)
    writes: bool  # whether the action changes something at the provider
    secrets: SecretSet

    def message(self, text: str, *, label: str | None = None) -> str:
        """``"<provider> <what>: [<label>: ]<text>"``, every secret of the request blanked out.

        ``label`` (e.g. ``"HTTP 401 invalid_api_key"``) is cleared of the request's secrets
        only: the secret-shaped patterns would read ``api_key: <text>`` as a key and its value.
        """
        head = redact_text(f"{self.provider} {self.what}", self.secrets)
        shown = f"{self.secrets.redact(label)}: " if label else ""
        return f"{head}: {shown}{redact_text(text, self.secrets)}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's successful answer: the response and its parsed JSON (``None`` if not)."""

    response: httpx.Response
    data: Any

    @property
    def body(self) -> dict[str, Any]:
        """The JSON object of the answer; ``{}`` when it is not one."""
        return self.data if isinstance(self.data, dict) else {}


class Provider:
    """How one service answers; subclass it beside the service's client to say its quirks."""

    #: The service's name, as it appears in every message.
    name: ClassVar[str] = "provider"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        """Whether the answer is an error (default: any status outside 2xx)."""
        return not 200 <= response.status_code < 300

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        """The service's own code and message from an error body.

        The default reads the common shapes: ``{"error": {"message", "code"|"type"}}``,
        ``{"error": "...", "error_description": "..."}``, ``{"message"|"description", "code"}``.
        """
        if not isinstance(data, dict):
            return ErrorDetail()
        error = data.get("error")
        if isinstance(error, dict):
            code = _text(error.get("code")) or _text(error.get("type"))
            return ErrorDetail(code=code, message=_text(error.get("message")))
        message = _text(data.get("error_description")) or _text(data.get("message"))
        message = message or _text(data.get("description"))
        code = _text(error) if message else _text(data.get("code"))
        return ErrorDetail(code=code or _text(data.get("code")), message=message or _text(error))

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        """The typed error for an answer the status alone gets wrong; ``None``: by status."""
        return None


def retry_after_s(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """The wait a provider asked for, in seconds, or ``None`` when it gave no usable hint.

    Read in order: ``Retry-After-Ms`` (milliseconds, OpenAI), ``Retry-After`` (seconds,
    fractional, or an HTTP-date), ``X-RateLimit-Reset-After`` (seconds, Discord) and
    ``RateLimit-Reset`` (seconds, the IETF draft). Negative, infinite and unparsable values are
    ignored; large ones are kept: the processor weighs them against the request's deadline.
    """
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    raw = headers.get("retry-after")
    if raw is not None:
        value = _seconds(raw)
        if value is not None:
            return value
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    for name in ("x-ratelimit-reset-after", "ratelimit-reset"):
        value = _seconds(headers.get(name))
        if value is not None:
            return value
    return None


def status_error(
    call: Call,
    status: int,
    detail: ErrorDetail = ErrorDetail(),
    *,
    headers: httpx.Headers | None = None,
) -> IntegrationError:
    """The typed error for an error answer with ``status`` (see the module's table).

    A provider whose body says what its status does not (a rate limit sent with HTTP 200)
    calls it with the status the body means.
    """
    label = f"HTTP {status}" + (f" {detail.code}" if detail.code else "")
    text = _clip(detail.message or httpx.codes.get_reason_phrase(status) or "no message")
    message = call.message(text, label=label)
    params = dict(detail.parameters)
    if status in (401, 403):
        return AuthError(f"{message}; check this bot's credentials", code=status, parameters=params)
    if status == 429:
        wait = detail.retry_after_s
        if wait is None and headers is not None:
            wait = retry_after_s(headers)
        return RateLimitedError(message, retry_after_s=wait, parameters=params)
    if status in (408, 425, 503):
        return TransientError(message, code=status, parameters=params)
    if status == 422:  # the provider understood the request and refused its values
        return InvalidConfigError(message, code=422, parameters=params)
    if status >= 500:
        error = OutcomeUnknownError if call.writes else TransientError
        return error(message, code=status, parameters=params)
    if status >= 400:
        return PermanentError(message, code=status, parameters=params)
    return TransientError(
        call.message(f"not a {call.provider} answer", label=label), code=502, parameters=params
    )


def answer_error(
    call: Call, provider: Provider, response: httpx.Response, data: Any = None
) -> IntegrationError:
    """The typed error for an error answer: the provider's quirks first, then its status.

    ``data`` is the parsed body (parsed here when not given); an SDK integration calls this with
    the response its SDK's exception carries.
    """
    if data is None:
        data = _json(response)
    detail = provider.detail(response, data)
    return provider.error(call, response, detail) or status_error(
        call, response.status_code, detail, headers=response.headers
    )


def transport_error(call: Call, exc: Exception) -> IntegrationError:
    """The typed error for a failed send: *not executed* when nothing can have left."""
    name = type(exc).__name__
    if isinstance(exc, NOT_SENT):
        return TransientError(call.message(f"could not connect ({name}); nothing was sent"))
    unknown = OutcomeUnknownError if call.writes else TransientError
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return unknown(call.message(f"no answer in time ({name})"), code=504)
    return unknown(call.message(f"connection lost mid-request ({name})"), code=502)


async def send(
    client: httpx.AsyncClient,
    provider: Provider,
    method: str,
    url: str,
    *,
    writes: bool,
    secrets: Iterable[object] = (),
    what: str | None = None,
    logger: BotLogger | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
    **kwargs: Any,
) -> Reply:
    """Send one request to ``provider``; its :class:`Reply`, or a typed error raised.

    ``secrets`` are scrubbed from every message (with ``logger``'s, when given); ``logger``
    also gets one warning per failure. The answer is read as a stream and refused past
    ``max_bytes`` (decoded), so a huge reply cannot exhaust memory. ``kwargs`` go to
    ``httpx.AsyncClient.build_request`` (``auth`` and ``follow_redirects`` to ``send``).
    """
    known = SecretSet(secrets)
    scrub = known if logger is None else _Both(known, logger.secrets)
    call = Call(provider.name, what or f"{method} {url}", writes, scrub)
    options: dict[str, Any] = {
        key: kwargs.pop(key) for key in ("auth", "follow_redirects") if key in kwargs
    }
    try:
        try:
            request = client.build_request(method, url, **kwargs)
            response = await _bounded(client, request, options, call, max_bytes)
        except (httpx.TransportError, OSError, TimeoutError) as exc:
            raise transport_error(call, exc) from None
        data = _json(response)
        if provider.is_error(response, data):
            raise answer_error(call, provider, response, data)
    except IntegrationError as error:
        if logger is not None:
            logger.warning(
                "%s request failed: %s", provider.name, error.message,
                category=error.category.value,
            )  # fmt: skip
        raise
    return Reply(response, data)


async def read_bounded(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    where: str,
    max_bytes: int,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """``request`` sent through ``client`` and its answer read whole, for calls made outside an
    action (an OAuth token endpoint): :class:`PermanentError` naming ``where`` once the answer
    passes ``max_bytes``."""
    options = {} if auth is None else {"auth": auth}
    call = Call(where, "answer", writes=False, secrets=SecretSet())
    return await _bounded(client, request, options, call, max_bytes)


async def _bounded(
    client: httpx.AsyncClient,
    request: httpx.Request,
    options: dict[str, Any],
    call: Call,
    max_bytes: int,
) -> httpx.Response:
    """The response with its body read, or :class:`PermanentError` once it passes ``max_bytes``."""
    response = await client.send(request, stream=True, **options)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                error = OutcomeUnknownError if call.writes else PermanentError
                raise error(call.message(f"the answer is over {max_bytes} bytes; it was not read"))
            chunks.append(chunk)
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
    return httpx.Response(
        response.status_code, headers=headers, content=b"".join(chunks), request=request,
        extensions=response.extensions,
    )  # fmt: skip


class _Both(SecretSet):
    """The request's own secrets and the logger's, redacted together."""

    def __init__(self, first: SecretSet, second: SecretSet) -> None:
        super().__init__()
        self._first, self._second = first, second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def redact(self, text: str) -> str:
        return self._second.redact(self._first.redact(text))


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"


def _seconds(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
