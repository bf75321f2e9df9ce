"""What an integration may know about the request it is executing, beyond the seed's arguments.

The seed's ``execute(config, credentials_resolver, bot_id, logger)`` stays as it is; the processor
binds :data:`current_request` for the task that handles a request (its log lines carry it, see
:mod:`processors.logs`) and narrows it around each call with :func:`executing` (attempt, deadline,
send gate), so an integration that supports provider-side idempotency reads the key from here::

    ctx = request_context()
    headers = {"Idempotency-Key": ctx.idempotency_key} if ctx else {}

The HTTP seams await the processor's send gate right before each provider request leaves:
:mod:`integrations.http`'s httpx clients through :func:`before_send`, the Telegram aiohttp backend
as the request is written to its connection (:func:`send_gate`). The gate takes the idempotency
claim there and checks that this worker still owns the request (see :mod:`processors.send_gate`).
A refused request raises :class:`SendRefusedError` and never leaves.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from integrations.errors import TransientError

if TYPE_CHECKING:
    from integrations.bot_logger import BotLogger, SecretSet


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The request being executed."""

    request_id: str
    bot_id: str
    idempotency_key: str
    """The request's ``idempotency_key``, or its ``request_id`` when it has none: stable across
    retries and replays of the same request, so a provider that takes keys dedupes them."""
    attempt: int = 1
    deadline: datetime | None = None
    traceparent: str | None = None
    gate: SendGateLike | None = None
    """Passed before each provider request; raises :class:`SendRefusedError` to stop it."""
    integration_id: str | None = None
    secrets: SecretSet | None = None
    """The request's own secret values (its credentials), which every log handler blanks out."""


class SendGateLike(Protocol):
    """The processor's send gate as the HTTP seams see it (:mod:`processors.send_gate`)."""

    async def __call__(self, send: Callable[[], None] | None = None) -> bool:
        """Right before a request leaves: may take the claim; may refuse.

        A seam that can write its request synchronously passes ``send`` (which must not raise):
        the gate may then send it itself the moment the claim is granted, and answers ``True``.
        """


class SendRefusedError(TransientError):
    """The processor stopped a provider request before it left (no claim, or a lost lease)."""

    maybe_executed = False


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def request_context() -> RequestContext | None:
    """The request being handled, or ``None`` outside the processor (e.g. a unit test)."""
    return current_request.get()


def provider_idempotency_key(
    *, max_chars: int, header: str, logger: BotLogger | None = None
) -> str:
    """The request's idempotency key for a provider that dedupes by one (``header``).

    Stable across our retries and redeliveries; a key over the provider's ``max_chars`` becomes
    its SHA-256 (64 hex characters). Outside the processor (a unit test, a seed-style call)
    there is no request: a fresh UUID is used, which protects nothing across retries, so that
    is logged.
    """
    context = current_request.get()
    if context is None:
        if logger is not None:
            logger.warning("no request context: using a one-off %s", header)
        return str(uuid.uuid4())
    key = context.idempotency_key
    return hashlib.sha256(key.encode()).hexdigest() if len(key) > max_chars else key


def bind_request(context: RequestContext | None) -> None:
    """The request the current task handles from now on (``None``: none).

    Not reset on exit: the processor runs each request in a task of its own, so the binding
    ends with the task (and the scheduler's line about a crashed handler still carries it).
    """
    current_request.set(context)


async def before_send() -> None:
    """Awaited by the HTTP seams right before a provider request leaves (may refuse it)."""
    if (gate := send_gate()) is not None:
        await gate()


def send_gate() -> SendGateLike | None:
    """The current request's send gate, for a seam that awaits it itself, later than
    :func:`before_send` would: as the request is written to a connection it already holds.

    The later the claim, the less of the time a claim is held falls before any byte has left:
    a worker killed in that gap leaves an "unknown" outcome for a request that never reached the
    provider. It also means a worker frozen (SIGSTOP) while it waited for a connection does not
    send on waking up once its lease is gone.
    """
    context = current_request.get()
    return context.gate if context is not None else None


class _Executing:
    """The current request set for one ``with`` block (a class: cheaper than a generator)."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: RequestContext) -> None:
        self._context = context
        self._token: Token[RequestContext | None] | None = None

    def __enter__(self) -> RequestContext:
        self._token = current_request.set(self._context)
        return self._context

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        current_request.reset(self._token)


def executing(context: RequestContext) -> _Executing:
    """Set the current request for the duration of one execution."""
    return _Executing(context)
