"""Where results and dead letters go: a producer that keeps trying until the broker has them.

An event's offset may only be committed after its outputs are on Kafka, so a failed send is
retried (with capped backoff) instead of raised: raising would let Faust ack the event and lose
it. Only cancellation (shutdown) interrupts the loop; the event is then redelivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from aiokafka.errors import KafkaError

log = logging.getLogger("actionstream.sink")

KafkaHeaders = Sequence[tuple[str, bytes]]


class Producer(Protocol):
    """The part of Faust's producer the sink uses (aiokafka-backed)."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Awaitable[Any]: ...


class OutputSink:
    """Publishes keyed records and waits for the broker's acknowledgement."""

    def __init__(
        self, producer: Producer, *, max_backoff_s: float = 5.0, initial_backoff_s: float = 0.1
    ) -> None:
        self._producer = producer
        self._max_backoff_s = max_backoff_s
        self._initial_backoff_s = initial_backoff_s

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: KafkaHeaders | None = None
    ) -> None:
        """Send and await delivery, retrying broker errors until it succeeds or is cancelled."""
        backoff = self._initial_backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                delivery = await self._producer.send(
                    topic, key, value, None, None, list(headers) if headers else None
                )
                await delivery
                return
            except KafkaError as exc:
                log.warning(
                    "publishing to %s failed (attempt %d, retrying in %.1fs): %r",
                    topic,
                    attempt,
                    backoff,
                    exc,
                )
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(self._max_backoff_s, backoff * 2)
