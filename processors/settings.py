"""Settings: one pydantic-settings model, read once at start-up and passed down.

Each section lives beside the code that uses it (``topics.settings``, ``integrations.settings``,
``integrations.telegram.settings``, ``integrations.credentials.settings``); this module only adds
the worker's own sections and assembles them.

Environment variables use the prefix ``ACTIONSTREAM_`` and ``__`` between nested models, e.g.
``ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS`` or ``ACTIONSTREAM_REDIS__URL``. Defaults point at the
local stack started by ``make up``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.credentials.settings import CredentialsSettings
from integrations.settings import EndpointSettings, IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from topics.settings import KafkaSettings, SchemaRegistrySettings, TopicSettings

__all__ = [
    "CredentialsSettings",
    "EndpointSettings",
    "IntegrationSettings",
    "KafkaSettings",
    "ProcessingSettings",
    "RedisSettings",
    "SchemaRegistrySettings",
    "Settings",
    "TelegramSettings",
    "TopicSettings",
    "WorkerSettings",
]


class RedisSettings(BaseModel):
    """The Redis that holds the credentials cache, idempotency records and rate limits.

    ``topology`` picks the client: ``single`` (one server at ``url``, as before), ``cluster``
    (Redis Cluster, discovered from the seed nodes in ``nodes``) or ``sentinel`` (the master
    named ``master_name``, found through the sentinels in ``nodes``). ``nodes`` is a comma
    list of ``host:port``, each optionally ``redis://`` or ``rediss://``.

    ``rediss://`` turns TLS on (``ssl_ca_certs`` for a private CA, ``ssl_certfile`` and
    ``ssl_keyfile`` for mTLS); ``username`` and ``password`` (or ``password_file``, a mounted
    Secret) log in as a Redis ACL user (see the README for the commands and keys it needs). With
    Sentinel, TLS applies to the sentinels too; ``sentinel_username`` / ``sentinel_password``
    log in to sentinels that require it.

    ``claim_replicas`` > 0 makes each idempotency claim wait (``WAIT``) until that many replicas
    hold it, at most ``claim_replicas_timeout_ms``; a claim that does not get there is retried
    before the call goes out. It closes the failover window in which a claim acknowledged by a
    master that then died is lost (see the README's Redis section for what it costs).
    """

    topology: Literal["single", "cluster", "sentinel"] = "single"
    url: str = "redis://127.0.0.1:6379/0"
    nodes: str = ""
    master_name: str = ""
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    claim_replicas: int = Field(default=0, ge=0)
    claim_replicas_timeout_ms: int = Field(default=100, ge=1)
    socket_timeout_s: float = 5.0
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ssl_ca_certs: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True


class WorkerSettings(BaseModel):
    """How one worker process behaves."""

    id: str = Field(default_factory=socket.gethostname)
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    max_in_flight: int = Field(default=256, ge=1)
    max_in_flight_per_bot: int = Field(
        default=32,
        ge=1,
        description="actions of one bot executing at once (its ordering keys together), per "
        "consumed topic; freed slots go round-robin across the bots waiting",
    )
    max_buffered: int = Field(default=10_000, ge=1)
    max_buffered_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_parked: int = Field(default=2_000, ge=1)
    intake: Literal["batch", "agent"] = Field(
        default="batch",
        description="batch: fetched batches go straight to the scheduler; agent: through a "
        "Faust agent's stream, one event at a time (slower; kept for comparison)",
    )
    drain_timeout_s: float = Field(default=20.0, ge=0)
    rebalance_grace_s: float = Field(default=10.0, ge=0)
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="the garbage collector's generation-0 threshold (Python's default: 700); "
        "0 leaves the interpreter's settings alone. The worker also freezes what start-up "
        "allocated, so full collections skip it",
    )
    malloc_arena_max: int = Field(
        default=2,
        ge=0,
        description="how many glibc malloc arenas the worker may use (glibc's default: 8 per "
        "core); 0 leaves it alone. One event loop allocates from one thread, and every other "
        "thread's arena holds on to its own free memory",
    )


class ProcessingSettings(BaseModel):
    """Retries, idempotency and side-effect policies."""

    inline_delay_limit_s: float = Field(
        default=5.0,
        ge=0,
        description="waits up to this long park the bot in memory; longer ones go through the "
        "retry topic",
    )
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    max_rate_limited_attempts: int = Field(default=20, ge=1)
    max_retry_after_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="a provider asking to wait longer than this (or past the request's "
        "deadline) fails the request instead; also caps a retry's not_before",
    )
    idempotency_lease_s: float = Field(default=15.0, gt=0)
    idempotency_ttl_s: float = Field(default=7 * 24 * 3600, gt=0)
    unknown_outcome: dict[str, Literal["reexecute", "report"]] = Field(
        default_factory=dict,
        description="per integration id, overrides its declared on_unknown_outcome policy: "
        '\'{"telegram_send_message": "report"}\'',
    )
    max_config_bytes: int = Field(
        default=256 * 1024, ge=1024, description="a request's config larger than this is refused"
    )
    max_config_depth: int = Field(
        default=32, ge=2, description="a config nested deeper than this is refused"
    )


class Settings(BaseSettings):
    """All of actionstream's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="ACTIONSTREAM_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    dev_mode: bool = False
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    topics: TopicSettings = TopicSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    telegram: TelegramSettings = TelegramSettings()
    credentials: CredentialsSettings = CredentialsSettings()
    integrations: IntegrationSettings = IntegrationSettings()
    worker: WorkerSettings = WorkerSettings()
    processing: ProcessingSettings = ProcessingSettings()
