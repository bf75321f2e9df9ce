"""Reading topics without a consumer group (audit, replay, waiting for results)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

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


async def read_to_end(
    consumer: AIOKafkaConsumer, topic: str
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from its beginning to its end as of the call, each partition in
    offset order, through a started group-less consumer; afterwards the consumer stands at those
    ends, so following the topic from there misses nothing and repeats nothing."""
    assignment = await assign_all(consumer, topic)
    await consumer.seek_to_beginning(*assignment)
    ends = await consumer.end_offsets(assignment)
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        for tp, records in (await consumer.getmany(timeout_ms=500)).items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
    for tp, end in ends.items():
        consumer.seek(tp, end)  # back over anything fetched past the end
