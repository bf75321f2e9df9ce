"""The seed's response envelope, and the one place that classifies what an execution did.

An integration either returns the seed's envelope::

    {"response": {"ok": True, "result": {...}}}
    {"response": {"ok": False, "error_code": 429, "description": "...",
                  "parameters": {"retry_after": 5}}}

or raises. :func:`classify` turns either form into one frozen :class:`Outcome`, whose
``category`` and ``retryable`` the processor routes on and whose ``response`` is the
envelope body to publish.

Envelope codes (the integration did not raise, so it only gave us a number):

=====================  ==============================================================
``error_code``         category
=====================  ==============================================================
429                    rate_limited (``parameters.retry_after`` seconds, if given)
401                    auth (invalidate cached credentials, refetch once)
403                    permanent: for Telegram it means "bot was blocked by the user",
                       which new credentials cannot fix. An integration whose 403
                       *is* a credentials problem raises ``AuthError`` instead.
422                    invalid_config (the provider rejected the values we sent)
400, 404, 409, other   permanent (an integration that knows a 400 is about the config
4xx, anything else     raises ``InvalidConfigError``)
408, 425, 5xx          transient
=====================  ==============================================================

Raised exceptions: our :mod:`integrations.errors` classes carry their own category;
``TimeoutError`` (``asyncio.TimeoutError`` is the same class), ``httpx.TransportError``
and ``ConnectionError`` are transient; ``httpx.HTTPStatusError`` is classified by its
status code as above (honouring ``Retry-After``); anything else is ``internal``, a bug
in the integration. A return value that is not an envelope is ``internal`` as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from integrations.bot_logger import SecretSet, redact_text, redact_value
from integrations.errors import IntegrationError, OutcomeCategory, RateLimitedError

__all__ = [
    "Outcome",
    "OutcomeCategory",
    "classify",
    "classify_status",
    "credentials_not_found",
    "fail",
    "ok",
]

_MAX_MESSAGE_CHARS = 500


def ok(result: Any = None) -> dict[str, Any]:
    """The seed's success envelope: ``{"response": {"ok": True, "result": result}}``."""
    return {"response": {"ok": True, "result": result}}


def fail(
    code: int, description: str, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The seed's failure envelope, with Telegram-style ``parameters`` when given."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return {"response": body}


def credentials_not_found() -> dict[str, Any]:
    """The seed's envelope for a bot without credentials for the action's provider."""
    return fail(401, "Credentials not found")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one execution came to, in the terms the processor acts on.

    ``response`` is the envelope *body* to publish (``{"ok": ..., ...}``, without the
    outer ``"response"`` key); for raised errors it is synthesized from the error.
    """

    category: OutcomeCategory
    code: int | None
    message: str
    retryable: bool
    retry_after_s: float | None = None
    response: dict[str, Any] = field(default_factory=dict)
    maybe_executed: bool = False
    """The call failed, but the side effect may have happened (e.g. a read timeout)."""

    @property
    def succeeded(self) -> bool:
        return self.category is OutcomeCategory.SUCCEEDED

    def error_record(self) -> dict[str, Any] | None:
        """The result event's ``error`` record, or ``None`` for a success."""
        if self.succeeded:
            return None
        return {
            "category": self.category.value,
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after_ms": None
            if self.retry_after_s is None
            else int(self.retry_after_s * 1000),
        }


def classify_status(code: int) -> tuple[OutcomeCategory, bool]:
    """The category and retryability of an HTTP-like status / envelope ``error_code``."""
    if code == 429:
        return OutcomeCategory.RATE_LIMITED, True
    if code == 401:
        return OutcomeCategory.AUTH, False
    if code == 422:
        return OutcomeCategory.INVALID_CONFIG, False
    if code in (408, 425) or 500 <= code <= 599:
        return OutcomeCategory.TRANSIENT, True
    return OutcomeCategory.PERMANENT, False


def classify(value: object, *, secrets: SecretSet | None = None) -> Outcome:
    """Classify what ``execute`` returned, or the exception it raised, into an :class:`Outcome`.

    Pass the return value on success and the exception object on failure::

        try:
            returned = await integration.execute(...)
        except Exception as exc:
            outcome = classify(exc, secrets=logger.secrets)
        else:
            outcome = classify(returned, secrets=logger.secrets)

    Messages built from exceptions are redacted (patterns, plus ``secrets`` when given),
    since they end up in result events and the DLQ.
    """
    if isinstance(value, BaseException):
        return _from_exception(value, secrets)
    return _from_return(value, secrets)


def _from_exception(exc: BaseException, secrets: SecretSet | None) -> Outcome:
    if isinstance(exc, IntegrationError):
        retry_after = exc.retry_after_s if isinstance(exc, RateLimitedError) else None
        return _error(
            exc.category,
            exc.code,
            exc.message,
            exc.retryable,
            secrets,
            retry_after_s=retry_after,
            parameters=exc.parameters,
            maybe_executed=exc.maybe_executed,
        )
    if isinstance(exc, httpx.HTTPStatusError):
        return _from_http_status(exc.response, secrets)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return _error(
            OutcomeCategory.TRANSIENT,
            504,
            _describe(exc, "timed out"),
            True,
            secrets,
            maybe_executed=_maybe_sent(exc),
        )
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return _error(
            OutcomeCategory.TRANSIENT,
            503,
            _describe(exc, "connection failed"),
            True,
            secrets,
            maybe_executed=_maybe_sent(exc),
        )
    message = f"integration raised {_describe(exc, 'no message')}"
    # A bug may strike after the provider was called: be as careful as with a timeout.
    return _error(OutcomeCategory.INTERNAL, 500, message, False, secrets, maybe_executed=True)


def _maybe_sent(exc: BaseException) -> bool:
    """Whether a transport failure may have happened after the request left.

    Connecting (or waiting for a pooled connection) failed: nothing was sent. Anything later —
    a read or write timeout, a connection dropped mid-answer, our own deadline cancelling the
    call — may have delivered it.
    """
    return not isinstance(
        exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | ConnectionRefusedError
    )


def _from_http_status(response: httpx.Response, secrets: SecretSet | None) -> Outcome:
    code = response.status_code
    category, retryable = classify_status(code)
    retry_after = _seconds(response.headers.get("retry-after"))
    # The URL is left out on purpose: query strings and Telegram paths carry credentials.
    message = f"HTTP {code} {response.reason_phrase} from {response.request.url.host}"
    return _error(
        category,
        code,
        message,
        retryable,
        secrets,
        retry_after_s=retry_after if category is OutcomeCategory.RATE_LIMITED else None,
    )


def _from_return(value: object, secrets: SecretSet | None) -> Outcome:
    if not isinstance(value, Mapping):
        return _malformed(f"execute() returned {type(value).__name__}, not a dict")
    body = value.get("response")
    if not isinstance(body, Mapping):
        keys = sorted(map(str, value.keys()))
        return _malformed(f"execute() returned a dict without a 'response' object (keys: {keys})")
    flag = body.get("ok")
    if flag is True:
        # A result echoing the request's own secrets (a token in a URL, say) loses them.
        if secrets:
            body = redact_value(body, secrets, patterns=False)
        return Outcome(OutcomeCategory.SUCCEEDED, None, "ok", False, None, dict(body))
    if flag is not False:
        return _malformed(f"the envelope's 'ok' must be true or false, got {flag!r}")
    code = body.get("error_code")
    if not isinstance(code, int) or isinstance(code, bool):
        return _malformed(f"a failure envelope needs an integer 'error_code', got {code!r}")
    body = redact_value(body, secrets)  # a failure is published and dead-lettered: no secrets
    description = body.get("description")
    message = description if isinstance(description, str) and description else f"error {code}"
    category, retryable = classify_status(code)
    retry_after = None
    parameters = body.get("parameters")
    if category is OutcomeCategory.RATE_LIMITED and isinstance(parameters, Mapping):
        retry_after = _seconds(parameters.get("retry_after"))
    return Outcome(category, code, _truncate(message), retryable, retry_after, dict(body))


def _malformed(problem: str) -> Outcome:
    message = f"integration returned a malformed result: {problem}; return ok(result) or fail(...)"
    return Outcome(
        OutcomeCategory.INTERNAL,
        500,
        message,
        False,
        None,
        {"ok": False, "error_code": 500, "description": message},
    )


def _error(
    category: OutcomeCategory,
    code: int | None,
    message: str,
    retryable: bool,
    secrets: SecretSet | None,
    *,
    retry_after_s: float | None = None,
    parameters: Mapping[str, Any] | None = None,
    maybe_executed: bool = False,
) -> Outcome:
    safe = _truncate(redact_text(message, secrets))
    response = fail(code if code is not None else 500, safe, parameters)["response"]
    return Outcome(category, code, safe, retryable, retry_after_s, response, maybe_executed)


def _describe(exc: BaseException, fallback: str) -> str:
    text = str(exc) or fallback
    return f"{type(exc).__name__}: {text}"


def _seconds(value: object) -> float | None:
    """A non-negative number of seconds from an int/float/str, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: let the processor pick its own backoff
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."
