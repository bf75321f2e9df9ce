"""Batch intake: whole fetched batches go straight to our schedulers.

Faust hands every record through its conductor and an agent's stream, and both steps wrap each
record in ``Service.wait_first`` — several asyncio tasks per record — which caps a Faust agent
far below what the Kafka client can fetch (``shared/notes/faust-pitfalls.md``). Our records do
not need that machinery: the ordered scheduler takes them, runs them and acks them itself.

:class:`BatchConsumer` is Faust's own aiokafka consumer with one change: for topics that have a
registered :class:`Intake` handler, the records of each fetched batch are collected and handed
over in one call, instead of being delivered one by one to a channel. Everything else stays
Faust's — group membership and rebalances, offsets and commits (our acks feed Faust's commit
bookkeeping), the producer, the web server, the worker lifecycle — and topics without a handler
(none today) still flow to agents as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import Message
from mode import Service

from processors.records import InboundRecord

log = logging.getLogger("actionstream.intake")

Submit = Callable[[InboundRecord, Callable[[], object]], Awaitable[bool]]


class Intake:
    """Where each topic's records go: ``submit(record, ack) -> accepted``."""

    def __init__(self) -> None:
        self.handlers: dict[str, Submit] = {}

    def route(self, topic: str, submit: Submit) -> None:
        self.handlers[topic] = submit


class BatchConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, delivering our topics' records a fetched batch at a time."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        intake = cast(Intake | None, getattr(self.app, "intake", None))
        if intake is None or not intake.handlers:
            await super()._drain_messages(fetcher)
            return
        # The loop below follows Faust's own Consumer._drain_messages (faust-streaming 0.15):
        # read offsets, gap tracking for transactional/compacted topics, commit_every; only
        # the delivery differs. Keep the two in step when upgrading Faust.
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        handlers = intake.handlers
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                batch: list[Message] = []
                generation = self.app.consumer_generation_id
                await self.sleep(0)
                if self.should_stop:
                    break
                async for tp, message in self.getmany(timeout=1.0):
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        continue  # already delivered: a seek went back
                    gap = offset - (r_offset or 0)
                    if gap > 1 and r_offset and acks_enabled_for(message.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if message.topic in handlers:
                        batch.append(message)
                    else:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    set_read_offset(tp, offset)
                if batch:
                    await self._deliver(batch, handlers, generation)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _deliver(
        self, batch: list[Message], handlers: dict[str, Submit], generation: int
    ) -> None:
        # Records not taken below stay unacked: nobody commits past them, and whoever owns
        # the partition after a rebalance (Faust seeks to the committed offsets then) or after a
        # restart reads them again.
        for message in batch:
            if self.app.consumer_generation_id != generation or not self.flow_active:
                return  # a rebalance began: these partitions may belong to someone else now
            self.track_message(message)
            if not await handlers[message.topic](record_of(message), _acker(self, message)):
                return  # draining for shutdown


class BatchTransport(aiokafka_driver.Transport):
    """The aiokafka transport with :class:`BatchConsumer`."""

    Consumer = BatchConsumer


def record_of(message: Message) -> InboundRecord:
    """Faust's message as the processor's :class:`InboundRecord`."""
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return InboundRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(pairs),
        timestamp_ms=int(message.timestamp * 1000),
    )


def _acker(consumer: BatchConsumer, message: Message) -> Callable[[], object]:
    return lambda: consumer.ack(message)
