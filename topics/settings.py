"""Settings of the Kafka side: the broker, the topics, the optional Schema Registry.

The worker's ``Settings`` (:mod:`processors.settings`) nests these; a bot runtime that only
publishes reads :class:`ClientSettings` instead. The readers and the publisher take any
:class:`StreamSettings` (Kafka and topic sections), so both kinds work.
"""

from __future__ import annotations

from typing import Protocol

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


class StreamSettings(Protocol):
    """The sections our Kafka clients read: the worker's ``Settings`` and :class:`ClientSettings`
    both have them."""

    @property
    def kafka(self) -> KafkaSettings: ...

    @property
    def topics(self) -> TopicSettings: ...


class ClientSettings(BaseSettings):
    """What a bot runtime needs to publish and read results: ``ACTIONSTREAM_KAFKA__…`` and
    ``ACTIONSTREAM_TOPICS__…``, nothing of the worker's."""

    model_config = SettingsConfigDict(
        env_prefix="ACTIONSTREAM_", env_nested_delimiter="__", extra="ignore"
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
