"""What the Telegram actions share: the Bot pool, the error mapping and the config pieces.

**The pool.** Building a ``telegram.Bot`` with its own HTTP clients costs ~43 ms (two httpx
clients, two SSL contexts); a reused one sends in ~2 ms. :class:`TelegramClientPool` keeps one
``Bot`` per token (LRU, ``max_cached_bots``), all sharing ONE ``HTTPXRequest``: connections are
per host, so one pool of connections serves every token. Bots are never ``initialize()``-d (that
costs a getMe per token; sending works without it) and never ``shutdown()`` one by one (that
would close the shared client under every other Bot); :meth:`TelegramClientPool.aclose` closes
the shared request once, at worker shutdown.

**The seam.** The worker builds one pool from ``Settings.telegram`` and hands it to the Telegram
integrations: ``integrations.telegram.configure(pool)``, or ``TelegramSendMessageIntegration(pool)``
when building them by hand. Seed-style ``TelegramSendMessageIntegration()`` still works: it
builds its own pool from the environment's settings on first use.

**Errors.** :func:`map_telegram_error` turns python-telegram-bot's exceptions into ours:

==================  =============================  =========================================
PTB exception       our error (code)               why
==================  =============================  =========================================
RetryAfter          RateLimitedError (429)         retry_after_s from the 429 body
ChatMigrated        PermanentError (400)           parameters.migrate_to_chat_id = new id
Forbidden           PermanentError (403)           blocked by the user: the token works
InvalidToken        AuthError (401)                401/404; PTB's message may hold the token
BadRequest          PermanentError (400)           chat not found, bad markup, ...
TimedOut            DeliveryUnknownError (504)     maybe delivered (read/write timeout), or
                    / TransientError (503)         not sent at all (pool/connect timeout)
Conflict            PermanentError (409)
NetworkError        TransientError (502/503)       5xx answer: not delivered; connection
                    / DeliveryUnknownError         lost mid-request: maybe delivered
other TelegramError PermanentError (400)
==================  =============================  =========================================

``BadRequest`` and ``TimedOut`` subclass ``NetworkError``, so they are tested first. Every
message is built here and scrubbed of the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar
from uuid import UUID

import httpx
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram import error as tg
from telegram.request import HTTPXRequest

from integrations.base import BaseIntegration, CredentialsResolverLike, RateLimit, RateLimitScope
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from processors.settings import Settings, TelegramSettings

__all__ = [
    "COMMON_PROPERTIES",
    "TELEGRAM_RATE_LIMITS",
    "DeliveryUnknownError",
    "TelegramClientPool",
    "TelegramIntegration",
    "chat_id",
    "decode_upload",
    "link_preview_options",
    "map_telegram_error",
    "reply_markup",
    "reply_parameters",
    "telegram_errors",
]

TraceparentGetter = Callable[[], str | None]


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
        size = self.settings.connection_pool_size
        httpx_kwargs: dict[str, Any] = {
            # PTB only sets max_connections; httpx would then keep just 20 connections alive and
            # reconnect for every request beyond that under load.
            "limits": httpx.Limits(max_connections=size, max_keepalive_connections=size),
        }
        if traceparent is not None:
            httpx_kwargs["event_hooks"] = {"request": [_traceparent_hook(traceparent)]}
        self.request = HTTPXRequest(
            connection_pool_size=size,
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.settings.read_timeout_s,
            write_timeout=self.settings.write_timeout_s,
            media_write_timeout=self.settings.media_write_timeout_s,
            pool_timeout=self.settings.pool_timeout_s,
            httpx_kwargs=httpx_kwargs,
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


def _traceparent_hook(getter: TraceparentGetter) -> Callable[[httpx.Request], Any]:
    async def hook(request: httpx.Request) -> None:
        if value := getter():
            request.headers["traceparent"] = value

    return hook


# -- errors ----------------------------------------------------------------------------------------


class DeliveryUnknownError(TransientError):
    """Telegram may have delivered the message although we got no answer (read timeout, dropped
    connection). Retrying can send it twice: the processor applies the integration's
    ``on_unknown_outcome`` policy. ``parameters["maybe_delivered"]`` carries the same fact into
    the result envelope, for readers that only see the envelope.
    """

    maybe_delivered: ClassVar[bool] = True
    default_code = 504


def _retry_after_s(exc: tg.RetryAfter) -> float:
    # PTB stores a timedelta in ``_retry_after``; the public ``retry_after`` is an int with a
    # PTBDeprecationWarning unless PTB_TIMEDELTA=1 (then a timedelta). Read the stored value.
    raw: object = getattr(exc, "_retry_after", None)
    if raw is None:
        raw = exc.retry_after
    return raw.total_seconds() if hasattr(raw, "total_seconds") else float(raw)  # type: ignore[arg-type]


def _not_sent(cause: BaseException | None) -> bool:
    """Whether the HTTP request certainly never reached Telegram."""
    return isinstance(cause, httpx.PoolTimeout | httpx.ConnectTimeout | httpx.ConnectError)


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
        return DeliveryUnknownError(
            f"{where}: timed out waiting for Telegram; the message may have been delivered",
            parameters={"maybe_delivered": True},
        )
    if isinstance(exc, tg.Conflict):
        return PermanentError(f"{where}: conflict: {detail}", code=409)
    if isinstance(exc, tg.NetworkError):
        cause = exc.__cause__
        if cause is None:  # Telegram answered with a 5xx status: it did not send the message
            return TransientError(f"{where}: server error: {detail}", code=502)
        if _not_sent(cause):
            return TransientError(f"{where}: could not connect: {detail}", code=503)
        return DeliveryUnknownError(
            f"{where}: connection lost mid-request ({detail}); the message may have been delivered",
            code=502,
            parameters={"maybe_delivered": True},
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


# -- config pieces shared by the actions -----------------------------------------------------------

CHAT_ID_SCHEMA: dict[str, Any] = {
    "description": "Target chat: a numeric id, or @channelusername",
    "oneOf": [
        {"type": "integer"},
        {"type": "string", "pattern": r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20})$"},
    ],
}
PARSE_MODE_SCHEMA: dict[str, Any] = {"enum": ["MarkdownV2", "HTML", "Markdown"]}
_BUTTON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "url": {"type": "string", "minLength": 1},
        "callback_data": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "required": ["text"],
    "oneOf": [{"required": ["url"]}, {"required": ["callback_data"]}],
    "additionalProperties": False,
}
REPLY_MARKUP_SCHEMA: dict[str, Any] = {
    "description": "Inline keyboard: rows of buttons, each with a url or callback_data",
    "type": "object",
    "properties": {
        "inline_keyboard": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 1, "items": _BUTTON_SCHEMA},
        }
    },
    "required": ["inline_keyboard"],
    "additionalProperties": False,
}
REPLY_PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message_id": {"type": "integer", "minimum": 1},
        "chat_id": CHAT_ID_SCHEMA,
        "allow_sending_without_reply": {"type": "boolean"},
    },
    "required": ["message_id"],
    "additionalProperties": False,
}
# Telegram's published limits (Bot FAQ): ~30 messages/s per bot, 1/s per chat. Groups allow only
# 20/min, but RateLimit has no per-chat-kind condition; Telegram answers an excess with a 429 whose
# retry_after we honour (RateLimitedError), so groups are throttled reactively.
TELEGRAM_RATE_LIMITS = (
    RateLimit(scope=RateLimitScope.CREDENTIAL, limit=30, period_s=1.0),
    RateLimit(scope=RateLimitScope.TARGET, limit=1, period_s=1.0, target_field="chat_id"),
)

COMMON_PROPERTIES: dict[str, Any] = {
    "chat_id": CHAT_ID_SCHEMA,
    "parse_mode": PARSE_MODE_SCHEMA,
    "disable_notification": {"type": "boolean"},
    "protect_content": {"type": "boolean"},
    "reply_markup": REPLY_MARKUP_SCHEMA,
    "reply_parameters": REPLY_PARAMETERS_SCHEMA,
    "message_thread_id": {"type": "integer", "minimum": 1},
}


def chat_id(value: int | str) -> int | str:
    """A configured chat id as PTB wants it: numeric strings become ints, @names stay."""
    if isinstance(value, str) and not value.startswith("@"):
        return int(value)
    return value


def reply_markup(config: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """``config["reply_markup"]`` (already schema-valid) as PTB's keyboard."""
    markup = config.get("reply_markup")
    if markup is None:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    b["text"], url=b.get("url"), callback_data=b.get("callback_data")
                )
                for b in row
            ]
            for row in markup["inline_keyboard"]
        ]
    )


def reply_parameters(config: Mapping[str, Any]) -> ReplyParameters | None:
    params = config.get("reply_parameters")
    if params is None:
        return None
    target = params.get("chat_id")
    return ReplyParameters(
        message_id=params["message_id"],
        chat_id=None if target is None else chat_id(target),
        allow_sending_without_reply=params.get("allow_sending_without_reply"),
    )


def link_preview_options(config: Mapping[str, Any]) -> LinkPreviewOptions | None:
    """``link_preview_options``, or the older ``disable_web_page_preview`` flag, as PTB's object
    (converted here: PTB would raise if both reached it)."""
    options = config.get("link_preview_options")
    if options is not None:
        return LinkPreviewOptions(**options)
    disabled = config.get("disable_web_page_preview")
    return None if disabled is None else LinkPreviewOptions(is_disabled=disabled)


def decode_upload(field: str, value: str, *, max_bytes: int) -> bytes:
    """Decode a base64 config value; InvalidConfigError if it is not base64 or too big."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidConfigError(f"{field} is not valid base64; encode the file bytes") from None
    if not data:
        raise InvalidConfigError(f"{field} is empty; pass the file's bytes, base64-encoded")
    if len(data) > max_bytes:
        raise InvalidConfigError(
            f"{field} is {len(data)} bytes, over Telegram's {max_bytes}-byte upload limit; "
            "send a smaller file or pass a URL"
        )
    return data


# -- the actions' base class -----------------------------------------------------------------------


class TelegramIntegration(BaseIntegration):
    """Base of the Telegram actions: the client-pool seam and the credentials lookup.

    Pass the worker's pool to the constructor or to :meth:`configure`. Without one (seed-style
    ``TelegramSendMessageIntegration()``), a pool is built on first use from the environment's
    settings, one per event loop, since an httpx client belongs to the loop it first ran on.
    """

    def __init__(self, pool: TelegramClientPool | None = None) -> None:
        self._pool = pool
        self._fallback: tuple[asyncio.AbstractEventLoop, TelegramClientPool] | None = None

    def configure(self, pool: TelegramClientPool) -> None:
        """Use ``pool`` (the worker's, built from ``Settings.telegram``) from now on."""
        self._pool = pool

    @property
    def pool(self) -> TelegramClientPool:
        """The injected pool, or this loop's fallback built from ``Settings()`` (environment)."""
        if self._pool is not None:
            return self._pool
        loop = asyncio.get_running_loop()
        if self._fallback is None or self._fallback[0] is not loop:
            self._fallback = (loop, TelegramClientPool(Settings().telegram))
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
