"""Worker logging: JSON or console lines, request context on every line, secrets redacted.

``ACTIONSTREAM_LOG_FORMAT=json`` writes one JSON object per line (for a log pipeline);
``console`` (the default) writes readable lines. Either way:

* every line written while a request is handled carries its ``bot_id``, ``request_id``,
  ``integration_id`` (and ``trace_id`` when the request had a ``traceparent``): the processor binds
  the request (:func:`integrations.context.bind_request`) for its job's task, and
  :class:`RequestContextFilter` copies these onto each record (integration logs get them from
  their ``BotLogger`` already);
* every handler redacts secrets (:class:`~integrations.bot_logger.SecretRedactingFilter`);
* chatty client libraries (one line per HTTP request, URLs with tokens) are quieted.

:func:`worker_logging_config` is the ``logging.config.dictConfig`` the worker hands to Faust so
its handlers are right from the first line; :func:`configure_worker_logging` runs once the worker
started and makes sure of the filters whatever configured the handlers.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from integrations.bot_logger import SecretRedactingFilter, install_secret_filter
from integrations.context import request_context
from processors.tracing import trace_id

# Client libraries that log one line per HTTP request, URL included: at thousands of actions per
# second that is noise, and Telegram's URLs carry the bot token.
CHATTY_LOGGERS = ("httpx", "httpcore", "telegram", "aiokafka")

CONTEXT_FIELDS = ("bot_id", "request_id", "integration_id", "trace_id")
# Attributes every LogRecord has; the others came from ``extra`` (or from our filter).
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Copies the bound request's identity onto each record (fields a record has are kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context()
        values = (
            (
                context.bot_id,
                context.request_id,
                context.integration_id,
                trace_id(context.traceparent),
            )
            if context is not None
            else (None, None, None, None)
        )
        for name, value in zip(CONTEXT_FIELDS, values, strict=True):
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the request context
    fields that are set, ``exception`` and any ``extra`` fields (``fields`` of a BotLogger)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and value is not None and not name.startswith("_"):
                entry[name] = value
        exc_text = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else None
        )
        if exc_text:
            entry["exception"] = exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    """``[time] [pid] [LEVEL] message  bot_id=… request_id=… integration_id=…`` (Faust's layout,
    plus the request context when there is one)."""

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        if not context:
            return text
        first, newline, rest = text.partition("\n")  # keep a traceback below the context
        return f"{first}  {context}{newline}{rest}"


LogFormat = Literal["json", "console"]


def worker_logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The ``dictConfig`` of a worker: one stdout handler with our formatter and filters."""
    formatter = JsonFormatter if log_format == "json" else ConsoleFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"actionstream": {"()": f"{__name__}.{formatter.__name__}"}},
        "filters": {
            "context": {"()": f"{__name__}.RequestContextFilter"},
            "secrets": {"()": SecretRedactingFilter.__module__ + ".SecretRedactingFilter"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "actionstream",
                "filters": ["context", "secrets"],
                "level": level.upper(),
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {name: {"level": "WARNING"} for name in CHATTY_LOGGERS},
    }


def configure_worker_logging(log_format: LogFormat | None = None) -> None:
    """Call once logging handlers exist (Faust sets them up when the worker starts).

    Quiets chatty loggers and puts the context and secret filters on every root handler. With
    ``log_format``, also sets that formatter on them (for handlers not built by
    :func:`worker_logging_config`).
    """
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RequestContextFilter) for f in handler.filters):
            # First, so the secret filter (which also rewrites extra attributes) sees them too.
            handler.filters.insert(0, RequestContextFilter())
        if log_format is not None:
            handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    install_secret_filter()
