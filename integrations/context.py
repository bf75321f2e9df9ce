"""What an integration may know about the request it is executing, beyond the seed's arguments.

The seed's ``execute(config, credentials_resolver, bot_id, logger)`` stays as it is; the processor
sets :data:`current_request` around each call, so an integration that supports provider-side
idempotency reads the key from here::

    ctx = request_context()
    headers = {"Idempotency-Key": ctx.idempotency_key} if ctx else {}

The HTTP seams (:mod:`integrations.http`'s httpx clients, the Telegram aiohttp backend) await
:func:`before_send` right before each provider request leaves; the processor's gate there takes
the idempotency claim and checks that this worker still owns the request (see
:mod:`processors.send_gate`). A refused request raises :class:`SendRefusedError` and never leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from integrations.errors import TransientError


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
    gate: Callable[[], Awaitable[None]] | None = None
    """Awaited before each provider request; raises :class:`SendRefusedError` to stop it."""


class SendRefusedError(TransientError):
    """The processor stopped a provider request before it left (no claim, or a lost lease)."""

    maybe_executed = False


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def request_context() -> RequestContext | None:
    """The request being executed, or ``None`` outside the processor (e.g. a unit test)."""
    return current_request.get()


async def before_send() -> None:
    """Awaited by the HTTP seams right before a provider request leaves (may refuse it)."""
    context = current_request.get()
    if context is not None and context.gate is not None:
        await context.gate()


@contextmanager
def executing(context: RequestContext) -> Iterator[RequestContext]:
    """Set the current request for the duration of one execution."""
    token = current_request.set(context)
    try:
        yield context
    finally:
        current_request.reset(token)
