"""Errors raised by integrations, the registry and discovery.

One small hierarchy; the decision about what happens next lives on the class
(its ``category`` and ``retryable``), so the processor never parses messages::

    IntegrationError                  base: code, message, retryable, category, parameters
    ├── RateLimitedError              429, retryable, carries retry_after_s
    ├── AuthError                     401, credentials rejected: invalidate and refetch once
    ├── InvalidConfigError            400, the request's config does not fit config_schema
    ├── TransientError                503, retryable: timeouts, 5xx, connection resets
    │   └── OutcomeUnknownError       504, the request may have reached the provider (a timeout
    │                                 after sending): retrying may repeat the side effect
    ├── PermanentError                400, the provider said no and will say it again
    ├── DeadlineExpiredError          408, the request's deadline passed before execution
    ├── IntegrationNotFoundError      404, no integration with this id / version
    └── IntegrationUnavailableError   501, its library is not installed (carries install_hint)

    RegistrationError (ValueError)    start-up only: bad metadata, duplicate id@version,
                                      a broken built-in package; never a request outcome

Integrations raise these (or return the seed's ``{"response": {"ok": False, ...}}``
envelope); :func:`integrations.outcome.classify` turns either form into one ``Outcome``.

Messages must never contain secrets: build them from ids, field names and provider
error descriptions, never from credentials or raw request URLs (Telegram's URLs hold
the bot token).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "DeadlineExpiredError",
    "IntegrationError",
    "IntegrationNotFoundError",
    "IntegrationUnavailableError",
    "InvalidConfigError",
    "OutcomeCategory",
    "OutcomeUnknownError",
    "PermanentError",
    "RateLimitedError",
    "RegistrationError",
    "TransientError",
]


class OutcomeCategory(StrEnum):
    """What kind of outcome an execution had; the processor routes on this.

    Defined here (not in ``outcome.py``) so that each error class can name its own
    category without a circular import; ``integrations.outcome`` re-exports it.
    """

    SUCCEEDED = "succeeded"
    RATE_LIMITED = "rate_limited"  # wait retry_after_s, feed the limiter
    TRANSIENT = "transient"  # backoff with jitter, up to max_attempts
    AUTH = "auth"  # invalidate cached credentials, refetch once
    INVALID_CONFIG = "invalid_config"  # fail now, DLQ
    PERMANENT = "permanent"  # fail now, DLQ
    EXPIRED = "expired"  # deadline passed, no side effect happened
    INTERNAL = "internal"  # bug in an integration: fail, DLQ, keep running
    UNAVAILABLE = "unavailable"  # library missing: fail, DLQ, operator installs it
    NOT_FOUND = "not_found"  # unknown integration id / version


class IntegrationError(Exception):
    """Base of every error an integration or the registry raises on purpose.

    ``code`` is the HTTP-like number published as the envelope's ``error_code``;
    ``parameters`` is published as the envelope's ``parameters`` (Telegram style,
    e.g. ``{"migrate_to_chat_id": -100123}``) and must hold no secrets.
    """

    category: ClassVar[OutcomeCategory] = OutcomeCategory.PERMANENT
    default_code: ClassVar[int] = 400
    default_retryable: ClassVar[bool] = False
    #: Whether the side effect may have happened although the call failed.
    maybe_executed: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        retryable: bool | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: int = self.default_code if code is None else code
        self.retryable: bool = self.default_retryable if retryable is None else retryable
        self.parameters: dict[str, Any] = dict(parameters or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class RateLimitedError(IntegrationError):
    """The provider (or our own limiter) asked us to slow down.

    ``retry_after_s`` is how long to wait; ``None`` means the provider gave no hint
    and the processor picks its own backoff.
    """

    category = OutcomeCategory.RATE_LIMITED
    default_code = 429
    default_retryable = True
    #: Longer waits are cut to this (a day): a provider's ``Retry-After: 1e300`` stays a number
    #: every later step can hold; the processor fails requests asked to wait past its own cap.
    max_retry_after_s: ClassVar[float] = 86_400.0

    def __init__(
        self,
        message: str = "Too Many Requests",
        *,
        retry_after_s: float | None = None,
        code: int | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        params = dict(parameters or {})
        if retry_after_s is not None:
            # NaN and negatives mean "no usable hint"; huge values are cut (see above).
            ok = retry_after_s >= 0  # False for NaN
            retry_after_s = min(retry_after_s, self.max_retry_after_s) if ok else None
        if retry_after_s is not None:
            # Telegram's envelope carries whole seconds; keep the same shape for readers.
            params.setdefault("retry_after", max(1, round(retry_after_s)))
        super().__init__(message, code=code, retryable=True, parameters=params)
        self.retry_after_s = retry_after_s


class AuthError(IntegrationError):
    """The provider rejected the credentials (revoked token, wrong key, expired OAuth).

    Not retryable by waiting: the processor invalidates the cached credentials and
    refetches them once; if that fails too, the request fails.
    """

    category = OutcomeCategory.AUTH
    default_code = 401


class InvalidConfigError(IntegrationError):
    """The request's ``config`` does not satisfy the integration's ``config_schema``.

    ``errors`` lists every problem as ``"$.json.path: message"``, most relevant first.
    """

    category = OutcomeCategory.INVALID_CONFIG
    default_code = 400

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[str] = (),
        code: int | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=False, parameters=parameters)
        self.errors: tuple[str, ...] = tuple(errors) or (message,)


class TransientError(IntegrationError):
    """A failure that may go away on its own: timeout, 5xx, dropped connection."""

    category = OutcomeCategory.TRANSIENT
    default_code = 503
    default_retryable = True


class OutcomeUnknownError(TransientError):
    """The call failed after the request may have reached the provider.

    A read timeout or a connection dropped mid-answer: the message may have been sent. The
    processor applies the integration's declared policy (``side_effect`` and
    ``on_unknown_outcome``) instead of blindly retrying.
    """

    default_code = 504
    maybe_executed = True


class PermanentError(IntegrationError):
    """The provider refused the request for a reason retrying will not fix.

    E.g. Telegram's 403 "bot was blocked by the user" or 400 "chat not found".
    """

    category = OutcomeCategory.PERMANENT
    default_code = 400


class DeadlineExpiredError(IntegrationError):
    """The request's deadline passed before it was executed; nothing was sent."""

    category = OutcomeCategory.EXPIRED
    default_code = 408


class IntegrationNotFoundError(IntegrationError):
    """No registered integration has this id (or this version of it)."""

    category = OutcomeCategory.NOT_FOUND
    default_code = 404

    def __init__(self, message: str, *, integration_id: str, version: str | None = None) -> None:
        super().__init__(message)
        self.integration_id = integration_id
        self.version = version


class IntegrationUnavailableError(IntegrationError):
    """The integration exists but cannot run here, usually because its library is missing.

    ``install_hint`` says what to install, e.g. ``pip install 'actionstream[stripe]'``.
    """

    category = OutcomeCategory.UNAVAILABLE
    default_code = 501

    def __init__(
        self,
        message: str,
        *,
        integration_id: str,
        reason: str,
        install_hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.integration_id = integration_id
        self.reason = reason
        self.install_hint = install_hint


class RegistrationError(ValueError):
    """An integration could not be registered or discovered: a programming or packaging
    mistake found at start-up (invalid metadata, duplicate ``id@version``, a built-in
    service package that fails to import for a reason other than a missing library)."""
