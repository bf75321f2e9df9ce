"""Settings: one pydantic-settings model, read once at start-up and passed down.

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


class KafkaSettings(BaseModel):
    """Where the broker is and how the worker joins it."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "actionstream"
    consumer_group: str = "actionstream-workers"
    request_timeout_ms: int = 30_000
    # A crashed worker's partitions move to the others after the session timeout: keep it short
    # (Faust's default is 60 s). The rebalance timeout must exceed the rebalance grace period.
    session_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    rebalance_timeout_s: float = Field(default=30.0, gt=0)
    # How often finished offsets are committed (with the finished offsets above them): what a
    # crash makes us redo, as DUPLICATEs. Measured with two workers and kill -9 (issue 12):
    # 1 s redid ~190 requests per kill, 0.25 s ~60. A commit is one small request to the broker.
    commit_interval_s: float = Field(default=0.25, gt=0)
    static_membership: bool = Field(
        default=True,
        description="join as a static member (group.instance.id = '<consumer_group>:<worker "
        "id>'): a worker restarted under the same id within session_timeout_s gets its "
        "partitions back with no rebalance; a worker that stops for good keeps them until "
        "session_timeout_s ends. Needs a stable, unique ACTIONSTREAM_WORKER__ID per worker",
    )


class RedisSettings(BaseModel):
    """The Redis that holds the credentials cache, idempotency records and rate limits."""

    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout_s: float = 5.0


class TopicSettings(BaseModel):
    """Topic names and sizing; every topic is keyed by bot_id."""

    requests: str = "integration.requests"
    results: str = "integration.results"
    retry: str = "integration.retry"
    dlq: str = "integration.dlq"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class SchemaRegistrySettings(BaseModel):
    """An optional Confluent Schema Registry; without a URL, events use single-object framing."""

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    auto_register: bool = True


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


class CredentialsSettings(BaseModel):
    """Where bot credentials come from and how they are cached (see ``integrations.credentials``).

    ``encryption_key`` (``ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY``) is 32 random bytes in urlsafe
    base64, the same on every worker; generate one with
    ``python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``.
    Without it the worker refuses to start unless ``dev_mode`` is on.
    """

    source: Literal["file", "env", "http"] = "file"
    file_path: Path = Path("credentials.json")
    http_url: str = "http://127.0.0.1:8000/internal/credentials"
    http_token: SecretStr | None = None
    http_timeout_s: float = 5.0
    encryption_key: SecretStr | None = None
    cache_ttl_s: int = Field(default=300, ge=1)
    negative_ttl_s: int = Field(default=15, ge=1)
    local_ttl_s: float = Field(default=5.0, ge=0)
    local_max_entries: int = Field(default=10_000, ge=1)
    # After a Redis failure, skip Redis (straight to the source) this long instead of paying a
    # connect timeout on every action.
    redis_backoff_s: float = Field(default=1.0, ge=0)
    # With an OAuth refresher configured, renew credentials whose expires_at is this close.
    refresh_margin_s: float = Field(default=60.0, ge=0)


class EndpointSettings(BaseModel):
    """Where one HTTP service is reached (tests and on-premise deployments override the URL)."""

    base_url: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)


class IntegrationSettings(BaseModel):
    """Which integration packages a worker loads, and where their services are reached."""

    extra_modules: list[str] = Field(
        default_factory=list,
        description="module paths whose import registers integrations, seed-style "
        '(JSON list, e.g. ["mycompany.integrations.crm"]); entry points in the '
        "'actionstream.integrations' group are loaded too",
    )
    endpoints: dict[str, EndpointSettings] = Field(
        default_factory=dict,
        description="per-service overrides by service name, e.g. "
        "ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL=http://127.0.0.1:8080/v1",
    )
    max_connections: int = Field(default=512, ge=1)


class WorkerSettings(BaseModel):
    """How one worker process behaves."""

    id: str = Field(default_factory=socket.gethostname)
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    max_in_flight: int = Field(default=256, ge=1)
    max_buffered: int = Field(default=10_000, ge=1)
    max_parked: int = Field(default=2_000, ge=1)
    intake: Literal["batch", "agent"] = Field(
        default="batch",
        description="batch: fetched batches go straight to the scheduler; agent: through a "
        "Faust agent's stream, one event at a time (slower; kept for comparison)",
    )
    drain_timeout_s: float = Field(default=20.0, ge=0)
    rebalance_grace_s: float = Field(default=10.0, ge=0)


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
    idempotency_lease_s: float = Field(default=15.0, gt=0)
    idempotency_ttl_s: float = Field(default=7 * 24 * 3600, gt=0)
    unknown_outcome: dict[str, Literal["reexecute", "report"]] = Field(
        default_factory=dict,
        description="per integration id, overrides its declared on_unknown_outcome policy: "
        '\'{"telegram_send_message": "report"}\'',
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
