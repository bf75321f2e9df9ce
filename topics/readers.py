"""Reading topics without a consumer group (audit, replay, waiting for results)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


class TopicMissingError(RuntimeError):
    """The topic does not exist on the cluster."""


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
