"""Reading topics without a consumer group (audit, replay, waiting for results)."""

from __future__ import annotations

from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from topics.connection import Brokers, client_options


class TopicMissingError(RuntimeError):
    """The topic does not exist on the cluster."""


def groupless_consumer(
    brokers: Brokers, *, reset: Literal["earliest", "latest"] = "earliest", **options: Any
) -> AIOKafkaConsumer:
    """A consumer outside every group: it joins none, commits nothing, moves no one's offsets.

    ``reset`` is where an assigned partition starts without a seek (``earliest`` also covers a
    start already deleted by retention).
    """
    return AIOKafkaConsumer(
        **client_options(brokers),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset=reset,
        **options,
    )


async def assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a started, group-less consumer.

    ``consumer.partitions_for_topic`` only knows topics the client already has metadata for, and
    ``consumer.topics()`` discards partitions, so the metadata is fetched here explicitly.
    """
    cluster = await consumer._client.fetch_all_metadata()
    partitions = cluster.partitions_for_topic(topic)
    if not partitions:
        raise TopicMissingError(
            f"topic {topic!r} does not exist; create it with `actionstream topics apply`"
        )
    assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assignment)
    return assignment
