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

**Errors.** :func:`map_telegram_error` turns python-telegram-bot's exceptions into ours:

==================  =============================  =========================================
PTB exception       our error (code)               why
==================  =============================  =========================================
RetryAfter          RateLimitedError (429)         retry_after_s from the 429 body
ChatMigrated        PermanentError (400)           parameters.migrate_to_chat_id = new id
Forbidden           PermanentError (403)           blocked by the user: the token works
InvalidToken        AuthError (401)                401/404; PTB's message may hold the token
BadRequest          PermanentError (400)           chat not found, bad markup, ...
TimedOut            OutcomeUnknownError (504)      maybe delivered (read/write timeout), or
                    / TransientError (503)         not sent at all (pool/connect timeout)
Conflict            PermanentError (409)
NetworkError        TransientError (502/503)       5xx answer: not delivered; connection
                    / OutcomeUnknownError (502)    lost mid-request: maybe delivered
other TelegramError PermanentError (400)
==================  =============================  =========================================

``OutcomeUnknownError`` is transient with ``maybe_executed = True``: ``classify()`` carries that
into ``Outcome.maybe_executed`` and the processor applies the action's ``on_unknown_outcome``
policy instead of blindly retrying. ``BadRequest`` and ``TimedOut`` subclass ``NetworkError``, so
they are tested first. Every message is built here and scrubbed of the token.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID

import httpx
from telegram import Bot
from telegram import error as tg

from integrations.base import BaseIntegration, CredentialsResolverLike, RateLimit, RateLimitScope
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.errors import (
    AuthError,
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

from .aiohttp_request import NOT_SENT, AiohttpRequest, TraceparentGetter
from .settings import TelegramEnvironment, TelegramSettings

if TYPE_CHECKING:
    from integrations.resources import Resources

__all__ = [
    "TELEGRAM_RATE_LIMITS",
    "TelegramClientPool",
    "TelegramIntegration",
    "map_telegram_error",
    "telegram_errors",
]


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


def _retry_after_s(exc: tg.RetryAfter) -> float:
    # PTB stores a timedelta in ``_retry_after``; the public ``retry_after`` is an int with a
    # PTBDeprecationWarning unless PTB_TIMEDELTA=1 (then a timedelta). Read the stored value.
    raw: object = getattr(exc, "_retry_after", None)
    if raw is None:
        raw = exc.retry_after
    return raw.total_seconds() if hasattr(raw, "total_seconds") else float(raw)  # type: ignore[arg-type]


def _not_sent(cause: BaseException | None) -> bool:
    """Whether the HTTP request certainly never reached Telegram (aiohttp, or httpx when a
    caller gives the Bots PTB's default HTTPXRequest)."""
    return isinstance(
        cause, (*NOT_SENT, httpx.PoolTimeout, httpx.ConnectTimeout, httpx.ConnectError)
    )


def map_telegram_error(exc: tg.TelegramError, *, method: str, token: str = "") -> IntegrationError:
    """Our typed error for a python-telegram-bot exception raised by ``method`` (e.g.
    ``"sendMessage"``). Messages are built here, never copied blindly: PTB's ``InvalidToken``
    text and httpx's URL errors can contain the bot token, which is scrubbed as well."""
    detail = _scrub(exc.message, token)
    where = f"Telegram {method}"
    if isinstance(exc, tg.RetryAfter):
        seconds = _retry_after_s(exc)
        return RateLimitedError(
            f"{where}: flood control, retry after {seconds:g} s", retry_after_s=seconds
        )
    if isinstance(exc, tg.ChatMigrated):
        # Not re-sent to the new chat automatically: the chat id is the bot author's
        # configuration, the result tells the bot runtime the new id to store, and a silent
        # resend would bypass the per-chat rate limit and ordering that were applied to the old.
        new_id = exc.new_chat_id
        return PermanentError(
            f"{where}: the group was upgraded to a supergroup; send to chat_id {new_id} instead",
            code=400,
            parameters={"migrate_to_chat_id": new_id},
        )
    if isinstance(exc, tg.Forbidden):
        # "bot was blocked by the user", "bot was kicked": the token is fine, new credentials
        # would not help, so this is not an AuthError.
        return PermanentError(f"{where}: forbidden: {detail}", code=403)
    if isinstance(exc, tg.InvalidToken):
        return AuthError(
            f"{where}: the bot token was rejected (401/404); check this bot's 'telegram' "
            "credentials",
            code=401,
        )
    if isinstance(exc, tg.BadRequest):
        return PermanentError(f"{where}: bad request: {detail}", code=400)
    if isinstance(exc, tg.TimedOut):
        if _not_sent(exc.__cause__):
            return TransientError(f"{where}: not sent, {detail}", code=503)
        return OutcomeUnknownError(
            f"{where}: timed out waiting for Telegram; the message may have been delivered"
        )
    if isinstance(exc, tg.Conflict):
        return PermanentError(f"{where}: conflict: {detail}", code=409)
    if isinstance(exc, tg.NetworkError):
        cause = exc.__cause__
        if cause is None:  # Telegram answered with a 5xx status: it did not send the message
            return TransientError(f"{where}: server error: {detail}", code=502)
        if _not_sent(cause):
            return TransientError(f"{where}: could not connect: {detail}", code=503)
        return OutcomeUnknownError(
            f"{where}: connection lost mid-request ({detail}); the message may have been delivered",
            code=502,
        )
    return PermanentError(f"{where}: {type(exc).__name__}: {detail}", code=400)


def _scrub(text: str, token: str) -> str:
    return redact_text(text, SecretSet([token]) if token else None)


@contextmanager
def telegram_errors(method: str, token: str, logger: BotLogger | None = None) -> Iterator[None]:
    """Re-raise python-telegram-bot errors inside the block as our typed errors (and log them).

    ``from None``: the original's message and traceback (which may hold the token) are not shown
    when the mapped error is logged or printed.
    """
    try:
        yield
    except tg.TelegramError as exc:
        mapped = map_telegram_error(exc, method=method, token=token)
        if logger is not None:
            logger.warning(
                "telegram call failed: %s", mapped.message, category=mapped.category.value
            )
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


class TelegramIntegration(BaseIntegration):
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
        """The injected pool, or this loop's fallback built from the environment."""
        if self._pool is not None:
            return self._pool
        loop = asyncio.get_running_loop()
        if self._fallback is None or self._fallback[0] is not loop:
            self._fallback = (loop, TelegramClientPool(TelegramEnvironment().telegram))
        return self._fallback[1]

    async def aclose(self) -> None:
        """Close the pool this integration built for itself (never an injected one)."""
        if self._fallback is not None:
            await self._fallback[1].aclose()
            self._fallback = None

    async def bot_token(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's Telegram token, or ``None`` when it has no Telegram credentials."""
        creds = await resolver.get_default_for(
            bot_id=bot_id, provider="telegram", strategy="api_key"
        )
        if not creds:
            return None
        token = creds.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                "the bot's 'telegram' credentials have no 'token'; store them as "
                '{"token": "<bot token from @BotFather>"}'
            )
        logger.add_secret(token)  # the processor registers it too; this keeps tests honest
        return token
