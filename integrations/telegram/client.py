"""What the Telegram actions share to call Telegram: the Bot pool, the error mapping, the rate
limits and the actions' base class (config schema pieces and PTB object builders: ``config.py``).

**The pool.** Building a ``telegram.Bot`` with its own HTTP clients costs ~43 ms (two httpx
clients, two SSL contexts); a reused one sends in ~2 ms. :class:`TelegramClientPool` keeps one
``Bot`` per token (LRU, ``max_cached_bots``), all sharing ONE request backend (aiohttp, see
``aiohttp_request.py`` for why not PTB's default httpx one): connections are
per host, so one pool of connections serves every token. Bots are never ``initialize()``-d (that
costs a getMe per token; sending works without it) and never ``shutdown()`` one by one (that
would close the shared client under every other Bot); :meth:`TelegramClientPool.aclose` closes
the shared request once, at worker shutdown.

**The seam.** The worker builds one pool from ``Settings.telegram`` and hands it to every
integration in its :class:`~integrations.resources.Resources` (``bind``); by hand, pass it to
``TelegramSendMessageIntegration(pool)`` or ``configure(pool)``. Seed-style
``TelegramSendMessageIntegration()`` still works: it builds its own pool from the environment's
settings on first use.

**Errors.** :func:`map_telegram_error` turns python-telegram-bot's exceptions into ours with the
seam's helpers (:mod:`integrations.provider`): the status Telegram answered goes through
:func:`~integrations.provider.status_error` (PTB keeps it only in its exception class, so the
request backend records it, see ``aiohttp_request.Answer``), a failed send through
:func:`~integrations.provider.transport_error`, and every message is built by
:class:`~integrations.provider.Call`, scrubbed of the token. What is Telegram's own (any
other status as the seam's table says, e.g. a 429 without parameters by ``Retry-After``):

==============================  =========================  ======================================
answer (PTB exception)          our error (code)           why
==============================  =========================  ======================================
429 + parameters.retry_after    RateLimitedError (429)     the wait is in the JSON body
(RetryAfter)
400 + parameters.               PermanentError (400)       parameters.migrate_to_chat_id = new id
migrate_to_chat_id
(ChatMigrated)
403 (Forbidden)                 PermanentError (403)       blocked or kicked by the user: the
                                                           token works, new credentials won't help
401, 404 (InvalidToken)         AuthError (401)            a revoked or malformed token
5xx with ``"ok": false``        TransientError (same)      Telegram says the method failed; a 5xx
                                                           without its envelope is a gateway's
                                                           and may hide a send: OutcomeUnknownError
timeout, connection lost        OutcomeUnknownError        maybe delivered; not sent at all when
(TimedOut, NetworkError)        / TransientError           the connection never opened
other TelegramError             PermanentError (400)       PTB's own (EndPointNotFound, ...)
==============================  =========================  ======================================

``OutcomeUnknownError`` is transient with ``maybe_executed = True``: ``classify()`` carries that
into ``Outcome.maybe_executed`` and the processor applies the action's ``on_unknown_outcome``
policy instead of blindly retrying.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import httpx
from telegram import Bot, Message
from telegram import error as tg

from integrations.base import (
    Category,
    CredentialsResolverLike,
    RateLimit,
    RateLimitScope,
    SideEffect,
)
from integrations.bot_logger import BotLogger, SecretSet
from integrations.credentialed import CredentialedIntegration
from integrations.credentials.fields import secret_field
from integrations.errors import (
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    TransientError,
)
from integrations.provider import Call, ErrorDetail, status_error, transport_error
from integrations.service import Service

from .aiohttp_request import NOT_SENT as AIOHTTP_NOT_SENT
from .aiohttp_request import AiohttpRequest, Answer, AnswerTooLarge, TraceparentGetter, watching
from .settings import TelegramSettings

if TYPE_CHECKING:
    from integrations.resources import Resources

__all__ = [
    "TELEGRAM",
    "TELEGRAM_RATE_LIMITS",
    "TelegramClientPool",
    "TelegramIntegration",
    "map_telegram_error",
    "sent",
    "telegram_errors",
]

TELEGRAM = Service("telegram", Category.MESSAGING, "#26A5E4", library="python-telegram-bot")


class TelegramClientPool:
    """One ``telegram.Bot`` per token, LRU-bounded, all sharing one ``HTTPXRequest``.

    ``traceparent``, when given, is called before every HTTP request; a non-empty answer is sent
    as the W3C ``traceparent`` header so Telegram calls join the request's trace.
    """

    def __init__(
        self,
        settings: TelegramSettings | None = None,
        *,
        traceparent: TraceparentGetter | None = None,
    ) -> None:
        self.settings = settings or TelegramSettings()
        self.request = AiohttpRequest(
            connection_pool_size=self.settings.connection_pool_size,
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.settings.read_timeout_s,
            write_timeout=self.settings.write_timeout_s,
            media_write_timeout=self.settings.media_write_timeout_s,
            pool_timeout=self.settings.pool_timeout_s,
            max_answer_bytes=self.settings.max_answer_bytes,
            traceparent=traceparent,
        )
        self._bots: OrderedDict[str, Bot] = OrderedDict()
        self.created = 0  # Bots constructed so far (evictions make this exceed len(self))
        self.closed = False

    def bot(self, token: str) -> Bot:
        """The cached Bot for ``token`` (built on first use, least recently used evicted)."""
        bot = self._bots.get(token)
        if bot is not None:
            self._bots.move_to_end(token)
            return bot
        if self.closed:
            raise RuntimeError("TelegramClientPool is closed; build a new one")
        bot = Bot(
            token,
            base_url=self.settings.base_url,
            base_file_url=self.settings.base_file_url,
            request=self.request,
            get_updates_request=self.request,  # so the Bot builds no second client of its own
        )
        self.created += 1
        self._bots[token] = bot
        if len(self._bots) > self.settings.max_cached_bots:
            # No shutdown() for the evicted Bot: it owns nothing, the request is shared.
            self._bots.popitem(last=False)
        return bot

    def __len__(self) -> int:
        return len(self._bots)

    async def aclose(self) -> None:
        """Close the shared HTTP client; call once, at worker shutdown."""
        self.closed = True
        self._bots.clear()
        await self.request.shutdown()

    async def __aenter__(self) -> TelegramClientPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- errors ----------------------------------------------------------------------------------------

PROVIDER = "Telegram"
# What PTB's exception classes say of the status, when no Answer was recorded.
_STATUS_OF: tuple[tuple[type[tg.TelegramError], int], ...] = (
    (tg.Forbidden, 403),
    (tg.InvalidToken, 401),
    (tg.BadRequest, 400),
    (tg.Conflict, 409),
    (tg.NetworkError, 502),  # some other status: PTB does not say which
)


def _retry_after_s(exc: tg.RetryAfter) -> float:
    # PTB stores a timedelta in ``_retry_after``; the public ``retry_after`` is an int with a
    # PTBDeprecationWarning unless PTB_TIMEDELTA=1 (then a timedelta). Read the stored value.
    raw: object = getattr(exc, "_retry_after", None)
    if raw is None:
        raw = exc.retry_after
    return raw.total_seconds() if hasattr(raw, "total_seconds") else float(raw)  # type: ignore[arg-type]


def map_telegram_error(
    exc: tg.TelegramError,
    *,
    method: str,
    token: str = "",
    writes: bool = True,
    answer: Answer | None = None,
) -> IntegrationError:
    """Our typed error for a python-telegram-bot exception raised by ``method`` (e.g.
    ``"sendMessage"``); ``answer`` is what the backend recorded of Telegram's answer, if any.
    Messages are built here, never copied blindly: PTB's ``InvalidToken`` text and an HTTP
    library's URL errors can contain the bot token, which is scrubbed as well."""
    call = Call(PROVIDER, method, writes, SecretSet([token]))
    if isinstance(exc, tg.RetryAfter):
        wait = _retry_after_s(exc)
        said = ErrorDetail(message=f"flood control, retry after {wait:g} s", retry_after_s=wait)
        return status_error(call, 429, said)
    if isinstance(exc, tg.ChatMigrated):
        # Not re-sent to the new chat automatically: the chat id is the bot author's
        # configuration, the result tells the bot runtime the new id to store, and a silent
        # resend would bypass the per-chat rate limit and ordering that were applied to the old.
        new_id = exc.new_chat_id
        said = ErrorDetail(
            message=f"the group was upgraded to a supergroup; send to chat_id {new_id} instead",
            parameters={"migrate_to_chat_id": new_id},
        )
        return status_error(call, 400, said)
    cause = exc.__cause__
    if isinstance(cause, IntegrationError):  # the send gate refused it (SendRefusedError)
        return cause
    if isinstance(cause, AnswerTooLarge):  # the request was answered: a send may have happened
        return (OutcomeUnknownError if writes else PermanentError)(call.message(str(cause)))
    if isinstance(exc, tg.TimedOut) or (
        isinstance(exc, tg.NetworkError) and cause is not None
        and not isinstance(cause, tg.TelegramError)  # a body PTB could not parse: an answer
    ):  # fmt: skip
        return _transport_error(call, cause if isinstance(cause, Exception) else TimeoutError())
    status = answer.status if answer is not None else None
    if status is None:
        status = next((code for kind, code in _STATUS_OF if isinstance(exc, kind)), None)
    if status is None:
        return PermanentError(call.message(exc.message, label=type(exc).__name__), code=400)
    detail = ErrorDetail(message=exc.message)
    if status == 403:
        # "bot was blocked by the user", "bot was kicked": the token is fine, new credentials
        # would not help, so this is not an AuthError.
        return PermanentError(call.message(exc.message, label="HTTP 403"), code=403)
    if status in (401, 404):  # PTB folds both into InvalidToken
        return status_error(call, 401, detail)
    if status >= 500 and answer is not None and _telegram_failed(answer.body):
        return TransientError(call.message(exc.message, label=f"HTTP {status}"), code=status)
    headers = httpx.Headers(answer.headers) if answer is not None else None
    return status_error(call, status, detail, headers=headers)


def _transport_error(call: Call, cause: Exception) -> IntegrationError:
    if isinstance(cause, AIOHTTP_NOT_SENT):  # aiohttp's "never connected" is not in NOT_SENT
        name = type(cause).__name__
        return TransientError(call.message(f"could not connect ({name}); nothing was sent"))
    return transport_error(call, cause)


def _telegram_failed(body: bytes) -> bool:
    """Whether ``body`` is the Bot API's own envelope saying the method failed (``ok: false``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("ok") is False


def sent(answer: Answer, message: Message | bool) -> dict[str, Any]:
    """A sent message as an action's result: Telegram's own JSON, which the answer holds (the
    fields ``to_dict`` would rebuild, as sent), else ``message.to_dict()``.

    ``message`` is ``True`` when the answer was :attr:`~Answer.raw_only` (PTB built no object).
    """
    raw = answer.result
    if isinstance(message, Message):
        if isinstance(raw, dict) and raw.get("message_id") == message.message_id:
            return raw
        result: dict[str, Any] = message.to_dict()
        return result
    if message is True and isinstance(raw, dict):  # raw_only: PTB was handed ``true``
        return raw
    raise TypeError(f"Telegram answered {type(raw).__name__} where a message was expected")


@contextmanager
def telegram_errors(
    method: str, token: str, logger: BotLogger | None = None, *, writes: bool = True
) -> Iterator[Answer]:
    """Re-raise python-telegram-bot errors inside the block as our typed errors (and log them);
    the block gets the :class:`Answer` its requests fill in.

    ``from None``: the original's message and traceback (which may hold the token) are not shown
    when the mapped error is logged or printed.
    """
    with watching() as answer:
        try:
            yield answer
        except tg.TelegramError as exc:
            mapped = map_telegram_error(
                exc, method=method, token=token, writes=writes, answer=answer
            )
            if logger is not None:
                logger.warning(
                    "%s request failed: %s", PROVIDER, mapped.message,
                    category=mapped.category.value,
                )  # fmt: skip
            raise mapped from None


# -- Telegram's rate limits ------------------------------------------------------------------------

# Telegram's published limits (Bot FAQ): ~30 messages/s per bot, 1/s per chat. Groups allow only
# 20/min, but RateLimit has no per-chat-kind condition; Telegram answers an excess with a 429 whose
# retry_after we honour (RateLimitedError), so groups are throttled reactively.
TELEGRAM_RATE_LIMITS = (
    RateLimit(scope=RateLimitScope.CREDENTIAL, limit=30, period_s=1.0),
    RateLimit(scope=RateLimitScope.TARGET, limit=1, period_s=1.0, target_field="chat_id"),
)


# -- the actions' base class -----------------------------------------------------------------------


class TelegramIntegration(CredentialedIntegration[str]):
    """Base of the Telegram actions: the client-pool seam and the credentials lookup.

    The worker binds its pool (:meth:`bind`); by hand, pass one to the constructor or to
    :meth:`configure`. Without one (seed-style
    ``TelegramSendMessageIntegration()``), a pool is built on first use from the environment's
    settings, one per event loop, since an httpx client belongs to the loop it first ran on.
    """

    calls_through_seams: ClassVar[bool] = True

    def __init__(self, pool: TelegramClientPool | None = None) -> None:
        self._pool = pool
        self._fallback: tuple[asyncio.AbstractEventLoop, TelegramClientPool] | None = None

    def configure(self, pool: TelegramClientPool) -> None:
        """Use ``pool`` from now on (by hand; the worker calls :meth:`bind`)."""
        self._pool = pool

    def bind(self, resources: Resources) -> None:
        self.configure(resources.telegram)

    @property
    def pool(self) -> TelegramClientPool:
        """The injected pool, or this loop's fallback to the public Bot API (no environment)."""
        if self._pool is not None:
            return self._pool
        loop = asyncio.get_running_loop()
        if self._fallback is None or self._fallback[0] is not loop:
            self._fallback = (loop, TelegramClientPool(TelegramSettings()))
        return self._fallback[1]

    async def aclose(self) -> None:
        """Close the pool this integration built for itself (never an injected one)."""
        if self._fallback is not None:
            await self._fallback[1].aclose()
            self._fallback = None

    def errors(self, method: str, token: str, logger: BotLogger) -> AbstractContextManager[Answer]:
        """:func:`telegram_errors` for this action: "maybe executed" unless it has no side
        effect, as :meth:`integrations.http.HttpIntegration.call` decides."""
        writes = self.metadata.side_effect is not SideEffect.NONE
        return telegram_errors(method, token, logger, writes=writes)

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's Telegram token, or ``None`` when it has no Telegram credentials."""
        # Registered with the logger as a secret: the processor does it too; this keeps tests
        # honest.
        return await secret_field(
            resolver, bot_id, logger, provider="telegram", fields=("token",),
            example='{"token": "<bot token from @BotFather>"}',
        )  # fmt: skip
