"""Read back what a worker produced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from schemas import AvroCodec
from topics.readers import assign_all

T = TypeVar("T")


async def collect(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout_s: float = 60.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning, read until ``until(records)`` holds.

    Raises ``TimeoutError`` naming how many records arrived when the condition never held.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        assignment = await assign_all(consumer, topic)
        await consumer.seek_to_beginning(*assignment)
        try:
            async with asyncio.timeout(timeout_s):
                while not until(records):
                    batch = await consumer.getmany(timeout_ms=200)
                    for part in batch.values():
                        records.extend(part)
        except TimeoutError:
            raise TimeoutError(
                f"{topic}: condition not met after {timeout_s}s with {len(records)} records"
            ) from None
    finally:
        await consumer.stop()
    return records


def decode_all(codec: AvroCodec, event_type: type[T], records: list[ConsumerRecord]) -> list[T]:
    return [codec.decode(event_type, r.value) for r in records]  # type: ignore[type-var]
