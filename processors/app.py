"""The Faust application: Kafka wiring, web server and worker lifecycle, built from settings."""

from __future__ import annotations

import faust

from processors.settings import Settings


def broker_url(bootstrap_servers: str) -> str:
    """Faust's broker URL for a comma-separated bootstrap list (``kafka://h1:9092;h2:9092``)."""
    hosts = [h.strip() for h in bootstrap_servers.split(",") if h.strip()]
    return "kafka://" + ";".join(hosts)


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured for at-least-once processing with our own ordering and commits."""
    return faust.App(
        settings.kafka.consumer_group,
        broker=broker_url(settings.kafka.bootstrap_servers),
        broker_client_id=settings.kafka.client_id,
        store="memory://",
        autodiscover=False,
        # Topics are created by `actionstream topics apply` from the catalogue, never implicitly.
        topic_allow_declare=False,
        # The leader-election topic is for Faust tables, which we do not use.
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_host=settings.worker.web_host,
        web_port=settings.worker.web_port,
        web_bind=settings.worker.web_host,
    )
