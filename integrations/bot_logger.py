"""``BotLogger``: the logger an integration receives, bound to one request, never leaking secrets.

Redaction happens before a record exists, so no handler (file, JSON, Sentry) ever sees
a secret:

* values under secret-ish keys (``token``, ``api_key``, ``password``, ``appid``, ...) in
  dicts passed as args, ``extra`` or keyword fields;
* every value registered with :meth:`BotLogger.add_secret` (the processor registers each
  credential value it resolves for the request);
* secret-shaped text anywhere in the message, args, extra and exception text: Telegram
  bot tokens, ``Bearer ...`` values, JWTs and ``key=value`` / ``"key": "value"`` pairs
  with a secret-ish key (URL queries such as ``?appid=...`` included).

:class:`SecretRedactingFilter` applies the pattern rules (and any static secrets) to
every record of the handlers it is installed on: a safety net for logs that do not go
through a ``BotLogger`` (library loggers such as httpx log request URLs).

Exception info is rendered to redacted text (``exc_text``) and the exception object is
dropped from the record, because handlers that read ``exc_info`` themselves would
otherwise print the unredacted message.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import quote, quote_plus
from uuid import UUID

from integrations.context import request_context

__all__ = [
    "REDACTED",
    "BotLogger",
    "SecretRedactingFilter",
    "SecretSet",
    "install_secret_filter",
    "is_secret_key",
    "redact_record",
    "redact_text",
    "redact_value",
]

REDACTED = "***"
# Shorter registered values would blank out ordinary words and numbers all over the logs.
MIN_SECRET_LEN = 4

_SECRET_KEYS = frozenset(
    {
        "token", "api_key", "apikey", "x_api_key", "secret", "password", "passwd", "pwd",
        "authorization", "proxy_authorization", "access_token", "refresh_token", "id_token",
        "client_secret", "wstoken", "appid", "key", "private_key", "secret_key", "api_token",
        "auth_token", "bot_token", "session_token", "cookie", "set_cookie", "credentials",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_api_key", "_apikey", "_private_key")

_KEY_ALTERNATION = "|".join(
    sorted((k.replace("_", "[_-]") for k in _SECRET_KEYS), key=len, reverse=True)
)
_SUFFIX_ALTERNATION = r"[\w-]*[_-](?:token|secret|password|api[_-]?key|apikey|private[_-]key)"
# "token": "v" / 'token': 'v' / token=v / Authorization: Bearer v  (the key not part of a
# longer name, so "icon_s3_key" or "idempotency_key" stay readable).
_KV_RE = re.compile(
    rf"(?i)(?P<prefix>(?<![\w-])[\"']?(?:{_SUFFIX_ALTERNATION}|{_KEY_ALTERNATION})(?![\w-])[\"']?"
    r"\s*[:=]\s*)"
    r"(?:(?P<quote>[\"'])(?P<quoted>(?:(?!(?P=quote)).)*)(?P=quote)"
    r"|(?P<bare>(?!\*\*\*)(?:(?:Bearer|Basic|Token)\s+)?[^\s\"',;&}\])]+))"
)
_TELEGRAM_TOKEN_RE = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")
# The token must end at a word boundary, so "token_type=bearer expires_in=60" is left alone.
_BEARER_RE = re.compile(r"(?i)\b(Bearer)\s+(?!\*\*\*)[A-Za-z0-9._~+/-]+=*(?![\w=])")
# Secrets that live in URL paths: Discord webhook tokens (/webhooks/<id>/<token>) and Bitrix24
# inbound-webhook secrets (/rest/<user id>/<secret>/); httpx logs request URLs.
_URL_PATH_SECRET_RE = re.compile(r"(/(?:api/(?:v\d+/)?)?webhooks/\d+/|/rest/\d+/)[A-Za-z0-9_-]{8,}")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
# The key shapes of the catalogue's providers, whole or as the masked fragments their error
# texts echo ("sk-proj-abc1********wxyz"): OpenAI sk-…, Stripe sk_/rk_ live/test keys,
# Google AIza…, Dropbox sl.…, YooKassa live_/test_ secret keys.
_PROVIDER_KEY_RE = re.compile(
    r"(?<![\w-])(?:"
    r"(?:sk-(?:proj-|svcacct-|admin-)?|[sr]k_(?:live|test)_|AIza|sl\.)[A-Za-z0-9_*.-]{8,}"
    # YooKassa's live_/test_ keys hold upper case or digits: "test_create_payment" stays.
    r"|(?:live|test)_(?=[A-Za-z0-9_*-]*[A-Z0-9*])[A-Za-z0-9_*-]{20,}"
    r")"
)

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_THIS_FILE = os.path.normcase(__file__)
_LOGGING_FILE = os.path.normcase(logging.addLevelName.__code__.co_filename)

_SysExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
_ExcInfo: TypeAlias = bool | _SysExcInfo | tuple[None, None, None] | BaseException | None


def is_secret_key(key: object) -> bool:
    """Whether a dict key / field name suggests its value is a secret."""
    if not isinstance(key, str):
        return False
    norm = key.strip().lower().replace("-", "_")
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)


@functools.lru_cache(maxsize=1024)
def _forms(text: str) -> frozenset[str]:
    """A secret and the percent-encoded forms it takes inside URLs (the same few credentials
    come with every request: quoted once)."""
    return frozenset((text, quote(text, safe=""), quote_plus(text, safe="")))


class SecretSet:
    """A set of exact secret strings to blank out of text (plus their URL-encoded forms)."""

    __slots__ = ("_ordered", "_values")

    def __init__(self, values: Iterable[object] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        for value in values:
            self.add(value)

    def add(self, value: object) -> None:
        """Register a secret; a mapping or sequence registers each of its leaf values."""
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
            return
        if isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.add(item)
            return
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if len(text) < MIN_SECRET_LEN:
            return
        forms = _forms(text)
        if self._values.issuperset(forms):
            return
        self._values.update(forms)
        # Longest first, so a secret containing another is blanked out whole.
        self._ordered = sorted(self._values, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _kv_sub(match: re.Match[str]) -> str:
    quote_char = match["quote"]
    if quote_char is not None:
        return f"{match['prefix']}{quote_char}{REDACTED}{quote_char}"
    return f"{match['prefix']}{REDACTED}"


def redact_text(text: str, secrets: SecretSet | None = None) -> str:
    """Blank out registered secrets and secret-shaped substrings of ``text``."""
    if secrets is not None:
        text = secrets.redact(text)
    text = _TELEGRAM_TOKEN_RE.sub(REDACTED, text)
    text = _URL_PATH_SECRET_RE.sub(rf"\1{REDACTED}", text)
    text = _JWT_RE.sub(REDACTED, text)
    text = _PROVIDER_KEY_RE.sub(REDACTED, text)
    text = _BEARER_RE.sub(rf"\1 {REDACTED}", text)
    return _KV_RE.sub(_kv_sub, text)


def redact_value(value: Any, secrets: SecretSet | None = None, *, patterns: bool = True) -> Any:
    """A copy of ``value`` with secret-keyed entries and secret text redacted (deeply).

    ``patterns=False`` blanks only the exact ``secrets`` (cheap enough for every result).
    """
    if isinstance(value, str):
        if patterns:
            return redact_text(value, secrets)
        return secrets.redact(value) if secrets is not None else value
    if isinstance(value, Mapping):
        return {
            k: (
                REDACTED
                if patterns and is_secret_key(k) and v is not None
                else redact_value(v, secrets, patterns=patterns)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v, secrets, patterns=patterns) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):  # named tuples: left as is
        return tuple(redact_value(v, secrets, patterns=patterns) for v in value)
    return value


def _format_exc(exc_info: _ExcInfo) -> str | None:
    info: tuple[Any, Any, Any]
    if exc_info is None or exc_info is False:
        return None
    if exc_info is True:
        info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        info = (type(exc_info), exc_info, exc_info.__traceback__)
    else:
        info = exc_info
    if info[0] is None:
        return None
    return "".join(traceback.format_exception(*info)).rstrip("\n")


def _render(msg: object, args: tuple[object, ...]) -> str:
    text = str(msg)
    if not args:
        return text
    single_mapping = len(args) == 1 and isinstance(args[0], Mapping) and args[0]
    try:
        return text % (args[0] if single_mapping else args)  # as LogRecord.getMessage does
    except (TypeError, ValueError, KeyError):
        # Same fallback spirit as logging: show what we were given rather than lose it.
        return f"{text} {args!r}"


def redact_record(record: logging.LogRecord, secrets: SecretSet | None = None) -> None:
    """Redact a record in place: message, args, exception text, stack and extra attributes."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not stop the log line
        message = f"{record.msg} {record.args!r}"
    record.msg = redact_text(message, secrets)
    # An empty tuple, not None: some formatters (mode's) wrap a non-tuple into (args,) and then
    # format the already-formatted message again.
    record.args = ()
    exc_text = record.exc_text or (
        logging.Formatter().formatException(record.exc_info) if record.exc_info else None
    )
    record.exc_info = None
    record.exc_text = redact_text(exc_text, secrets) if exc_text else None
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info, secrets)
    for name, value in list(record.__dict__.items()):
        if name not in _STANDARD_ATTRS:
            redacted = REDACTED if is_secret_key(name) else redact_value(value, secrets)
            setattr(record, name, redacted)


class SecretRedactingFilter(logging.Filter):
    """A ``logging.Filter`` that redacts every record passing through a handler.

    Besides the patterns and its own ``secrets``, a record written while a request executes
    loses that request's secrets (its credentials, whoever logs them: httpx, a library).
    Install it on handlers (a filter on a logger does not see records propagated from
    child loggers): ``install_secret_filter()`` does that for the root logger's handlers.
    """

    def __init__(self, name: str = "", *, secrets: Iterable[object] = ()) -> None:
        super().__init__(name)
        self.secrets = SecretSet(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.secrets)
        context = request_context()
        if context is not None and context.secrets:
            redact_record(record, context.secrets)
        return True


def install_secret_filter(logger: logging.Logger | None = None) -> SecretRedactingFilter:
    """Add one shared :class:`SecretRedactingFilter` to every handler of ``logger`` (root)."""
    target = logger or logging.getLogger()
    existing = [
        f for h in target.handlers for f in h.filters if isinstance(f, SecretRedactingFilter)
    ]
    flt = existing[0] if existing else SecretRedactingFilter()
    for handler in target.handlers:
        if flt not in handler.filters:
            handler.addFilter(flt)
    return flt


class BotLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one request's ``bot_id`` / ``request_id`` / ``integration_id``.

    Use it like a stdlib logger: ``logger.info("sent to %s", chat_id)``; keyword
    arguments beyond the stdlib ones become structured fields (``logger.info("sent",
    chat_id=1)``), shown as ``key=value`` and stored on the record as ``fields``.
    Every message, argument, field, ``extra`` value and traceback is redacted first.
    """

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        *,
        bot_id: UUID | str | None = None,
        request_id: str | None = None,
        integration_id: str | None = None,
        secrets: SecretSet | Iterable[object] = (),
        extra: Mapping[str, object] | None = None,
    ) -> None:
        if logger is None or isinstance(logger, str):
            default = f"integrations.{integration_id}" if integration_id else "integrations"
            logger = logging.getLogger(logger or default)
        context: dict[str, object] = {
            "bot_id": str(bot_id) if bot_id is not None else None,
            "request_id": request_id,
            "integration_id": integration_id,
            **(extra or {}),
        }
        super().__init__(logger, context)
        self.secrets = secrets if isinstance(secrets, SecretSet) else SecretSet(secrets)

    @property
    def bot_id(self) -> str | None:
        return self._context().get("bot_id")  # type: ignore[return-value]

    @property
    def request_id(self) -> str | None:
        return self._context().get("request_id")  # type: ignore[return-value]

    @property
    def integration_id(self) -> str | None:
        return self._context().get("integration_id")  # type: ignore[return-value]

    def _context(self) -> Mapping[str, object]:
        return self.extra or {}

    def add_secret(self, value: object) -> None:
        """Never log ``value`` (a string, or every leaf value of a dict/list) from now on."""
        self.secrets.add(value)

    def bind(self, **context: object) -> BotLogger:
        """A child logger with more context; it shares (and adds to) the same secrets."""
        child = BotLogger(self.logger, secrets=self.secrets)
        child.extra = {**self._context(), **context}
        return child

    def redact(self, value: Any) -> Any:
        """What this logger would write for ``value``."""
        return redact_value(value, self.secrets)

    def log(  # same parameters as stdlib; unknown keywords become structured fields
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: _ExcInfo = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **fields: object,
    ) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = _render(msg, tuple(self.redact(a) for a in args))
        safe_fields = self.redact(fields) if fields else {}
        if safe_fields:
            text += " " + " ".join(f"{k}={v}" for k, v in safe_fields.items())
        text = redact_text(text, self.secrets)
        exc_text = _format_exc(exc_info)
        filename, lineno, func, sinfo = _find_caller(stack_info, stacklevel)
        attrs: dict[str, object] = dict(self.redact(dict(self._context())))
        if extra:
            attrs.update(self.redact(dict(extra)))
        if safe_fields:
            attrs["fields"] = safe_fields
        record = self.logger.makeRecord(
            self.logger.name, level, filename, lineno, text, (), None, func, attrs, sinfo
        )
        if exc_text:
            record.exc_text = redact_text(exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, self.secrets)
        self.logger.handle(record)


def _find_caller(stack_info: bool, stacklevel: int) -> tuple[str, int, str, str | None]:
    """The first frame outside this module and the logging package, as logging reports it."""
    frame = sys._getframe(1)
    while frame.f_back is not None and os.path.normcase(frame.f_code.co_filename) in (
        _THIS_FILE,
        _LOGGING_FILE,
    ):
        frame = frame.f_back
    for _ in range(max(stacklevel, 1) - 1):
        if frame.f_back is None:
            break
        frame = frame.f_back
    sinfo = None
    if stack_info:
        sinfo = "Stack (most recent call last):\n" + "".join(traceback.format_stack(frame)).rstrip(
            "\n"
        )
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, sinfo
