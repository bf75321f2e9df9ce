"""Read the results topic without joining the workers' consumer group.

:class:`ResultWaiter` backs ``RequestPublisher.request()``: it follows the results topic from its
end and hands each awaited result to whoever asked for its ``request_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from schemas import AvroCodec, IntegrationResult, SchemaDecodeError
from topics.connection import Brokers
from topics.readers import TopicMissingError, assign_all, groupless_consumer

log = logging.getLogger(__name__)


class ResultWaiter:
    """Follows the results topic (no consumer group) and resolves futures by request_id."""

    def __init__(self, brokers: Brokers, topic: str, codec: AvroCodec) -> None:
        self._topic = topic
        self._codec = codec
        self._consumer = groupless_consumer(brokers, reset="latest")
        self._waiting: dict[uuid.UUID, asyncio.Future[IntegrationResult]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition and position at the end, before any request is published."""
        await self._consumer.start()
        try:
            assignment = await assign_all(self._consumer, self._topic)
        except TopicMissingError:
            await self._consumer.stop()
            raise
        await self._consumer.seek_to_end(*assignment)
        for tp in assignment:  # resolve the lazy end offsets now, so nothing later is missed
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow(), name="result-waiter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    def expect(self, request_id: uuid.UUID) -> asyncio.Future[IntegrationResult]:
        """Register interest in a result before publishing its request."""
        future: asyncio.Future[IntegrationResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: uuid.UUID) -> None:
        self._waiting.pop(request_id, None)

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if not self._waiting or record.value is None:
                        continue
                    try:
                        result = self._codec.decode(IntegrationResult, record.value)
                    except SchemaDecodeError as exc:
                        log.warning("undecodable record on %s: %s", self._topic, exc)
                        continue
                    future = self._waiting.pop(result.request_id, None)
                    if future is not None and not future.done():
                        future.set_result(result)
