"""The Faust application: Kafka wiring, web server and worker lifecycle, built from settings.

:class:`ActionstreamApp` adds two hooks Faust lacks for work that outlives the agent's loop
(our ordered scheduler runs actions concurrently and acks them itself): before Faust commits on
a rebalance or at shutdown, in-flight actions get a grace period to finish, so their offsets are
committed now instead of their work being redone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import TP, TransportT

from processors.intake import BatchTransport, Intake
from processors.logs import worker_logging_config
from processors.settings import Settings
from topics.connection import client_options
from topics.settings import KafkaSettings

Drain = Callable[[float], Awaitable[int]]
Revoke = Callable[[set[tuple[str, int]], float], Awaitable[int]]


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the connection settings every other client gets as ``client_options``:
    the same TLS context, SASL mechanism and secrets, so the worker connects like the rest."""
    options = client_options(kafka)
    context = options.get("ssl_context")
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    if kafka.sasl_mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(
            oauth_cb=options["sasl_oauth_token_provider"], ssl_context=context
        )
    if kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"], password=options["sasl_plain_password"],
            ssl_context=context, mechanism=kafka.sasl_mechanism,
        )  # fmt: skip
    return None


def broker_url(bootstrap_servers: str) -> str:
    """Faust's broker URL for a comma-separated bootstrap list (``kafka://h1:9092;h2:9092``)."""
    hosts = [h.strip() for h in bootstrap_servers.split(",") if h.strip()]
    return "kafka://" + ";".join(hosts)


class ActionstreamApp(faust.App):
    """A Faust app whose rebalances and shutdown wait for in-flight actions (bounded)."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actionstream_settings = settings
        self._drains: list[Drain] = []
        self._revokes: list[Revoke] = []
        self.intake = Intake()

    def _new_transport(self) -> TransportT:
        if self.actionstream_settings.worker.intake == "batch":
            return BatchTransport(self.conf.broker_consumer, self)
        return super()._new_transport()

    def on_drain(self, drain: Drain, revoke: Revoke) -> None:
        """Register a scheduler's drain (shutdown) and revoke (rebalance) hooks."""
        self._drains.append(drain)
        self._revokes.append(revoke)

    async def on_stop(self) -> None:
        # Before Faust stops the consumer (and commits): stop taking records, let running
        # actions finish within the drain deadline, so their acks make it into the last commit.
        timeout = self.actionstream_settings.worker.drain_timeout_s
        for drain in self._drains:
            await drain(timeout)
        await super().on_stop()

    async def revoke_in_flight(self, revoked: set[TP]) -> None:
        """Give in-flight actions of revoked partitions their grace period (once per revoke).

        The batch intake calls this before Faust forgets the partitions' acks, so what finishes
        is committed; for agent intake it runs from :meth:`_on_partitions_revoked`.
        """
        grace = self.actionstream_settings.worker.rebalance_grace_s
        partitions = {(tp.topic, tp.partition) for tp in revoked}
        for revoke in self._revokes:
            await revoke(partitions, grace)

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        await self.revoke_in_flight(revoked)  # a no-op when the batch intake already did it
        await super()._on_partitions_revoked(revoked)


def group_instance_id(settings: Settings) -> str | None:
    """The worker's static group member id, or ``None`` for dynamic membership."""
    kafka = settings.kafka
    if not kafka.static_membership:
        return None
    return f"{kafka.consumer_group}:{settings.worker.id}"


def create_app(settings: Settings) -> ActionstreamApp:
    """A Faust app configured for at-least-once processing with our own ordering and commits."""
    return ActionstreamApp(
        settings.kafka.consumer_group,
        settings=settings,
        broker=broker_url(settings.kafka.bootstrap_servers),
        broker_credentials=broker_credentials(settings.kafka),
        broker_client_id=settings.kafka.client_id,
        broker_session_timeout=settings.kafka.session_timeout_s,
        broker_heartbeat_interval=settings.kafka.heartbeat_interval_s,
        broker_rebalance_timeout=settings.kafka.rebalance_timeout_s,
        broker_commit_interval=settings.kafka.commit_interval_s,
        # Static membership (KIP-345): a worker restarted under the same id takes its partitions
        # back without a rebalance, so a crash stalls only its own bots, not the group.
        consumer_group_instance_id=group_instance_id(settings),
        store="memory://",
        autodiscover=False,
        # Topics are created by `actionstream topics apply` from the catalogue, never implicitly.
        topic_allow_declare=False,
        # The leader-election topic is for Faust tables, which we do not use.
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Our scheduler acks in offset order and drains itself (ActionstreamApp.on_stop);
        # Faust's own wait would wait forever for records we deliberately left unacked.
        stream_wait_empty=False,
        # Let the scheduler hold its whole window: Faust's per-topic buffer only needs to keep
        # the agent fed.
        stream_buffer_maxsize=max(4096, settings.worker.max_in_flight * 4),
        # Set before faust.Worker configures logging, so even its first lines use our format.
        logging_config=worker_logging_config(settings.log_format, settings.log_level),
        web_host=settings.worker.web_host,
        web_port=settings.worker.web_port,
        web_bind=settings.worker.web_host,
    )
