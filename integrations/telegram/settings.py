"""Settings of the Telegram backend (``ACTIONSTREAM_TELEGRAM__…``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TelegramSettings(BaseModel):
    """Telegram Bot API endpoint; point it at a local Bot API server or a fake in tests.

    One HTTP connection pool serves every bot token (``connection_pool_size`` should be at least
    the worker's ``max_in_flight``). ``read_timeout_s`` stays below the integrations'
    ``timeout_s`` so a slow Telegram surfaces as a "maybe delivered" timeout, not a cancellation.
    """

    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    max_cached_bots: int = Field(default=1024, ge=1)
    connection_pool_size: int = Field(default=512, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    write_timeout_s: float = Field(default=10.0, gt=0)
    media_write_timeout_s: float = Field(default=30.0, gt=0)  # uploads of photos / documents
    pool_timeout_s: float = Field(default=2.0, gt=0)  # waiting for a free pooled connection
    #: The largest answer read from the Bot API (a sent message is a few KiB); a larger one is
    #: not read on, and the request fails ("maybe delivered" for a send).
    max_answer_bytes: int = Field(default=1024 * 1024, ge=1024)
