"""Settings of the Kafka side: the broker, the topics, the optional Schema Registry.

The worker's ``Settings`` (:mod:`processors.settings`) nests these; a bot runtime that only
publishes reads :class:`ClientSettings` instead. The readers and the publisher take any
:class:`StreamSettings` (Kafka and topic sections), so both kinds work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettings(BaseModel):
    """Where the broker is, how every client of ours connects to it, how the worker joins it.

    The connection fields (``security_protocol`` to ``ssl_check_hostname``) serve every Kafka
    client actionstream creates (:func:`topics.connection.client_options`): the worker, the
    publisher, the admin, the readers, the readiness probe. Secrets come from the environment
    (``ACTIONSTREAM_KAFKA__SASL_PASSWORD``) or a file (``..._SASL_PASSWORD_FILE``, e.g. a
    mounted Kubernetes Secret), never from a ConfigMap.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="required with SASL_PLAINTEXT and SASL_SSL"
    )
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        default=None, description="read the SASL password from this file (a mounted Secret)"
    )
    sasl_oauth_token_provider: str | None = Field(
        default=None,
        description="OAUTHBEARER: 'module:attribute' of an aiokafka AbstractTokenProvider "
        "(an instance, or a class or function returning one)",
    )
    ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates (PEM)"
    )
    ssl_certfile: Path | None = Field(default=None, description="client certificate for mTLS")
    ssl_keyfile: Path | None = Field(default=None, description="its private key (PEM)")
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
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
    commands: str = "actionstream.bot-commands"
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class SchemaRegistrySettings(BaseModel):
    """An optional Confluent Schema Registry; without a URL, events use single-object framing."""

    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) that signed the registry's certificate"
    )
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
