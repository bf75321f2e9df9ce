"""Worker logging: redact secrets on every handler, quiet per-request client chatter."""

from __future__ import annotations

import logging

from integrations.bot_logger import install_secret_filter

# Client libraries that log one line per HTTP request, URL included: at thousands of actions per
# second that is noise, and Telegram's URLs carry the bot token.
CHATTY_LOGGERS = ("httpx", "httpcore", "telegram", "aiokafka")


def configure_worker_logging() -> None:
    """Call once logging handlers exist (Faust sets them up when the worker starts)."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_secret_filter()
