"""Batch intake: whole fetched batches go straight to our schedulers.

Faust hands every record through its conductor and an agent's stream, and both steps wrap each
record in ``Service.wait_first`` — several asyncio tasks per record — which caps a Faust agent
far below what the Kafka client can fetch (``shared/notes/faust-pitfalls.md``). Our records do
not need that machinery: the ordered scheduler takes them, runs them and acks them itself.

:class:`BatchConsumer` is Faust's own aiokafka consumer with three changes. Everything else
stays Faust's — group membership and rebalances, offsets and commits (our acks feed Faust's
commit bookkeeping), the producer, the web server, the worker lifecycle — and topics without a
handler (none today) still flow to agents as usual.

1. **Delivery.** For topics with a registered :class:`IntakeHandler`, the records of each fetched
   batch are handed over one call each, in offset order. A batch belongs to the consumer
   generation it was fetched in (every message carries it); delivery stops when that generation
   ends or the flow stops. A record counts as read only once its handler took it, and when
   delivery stops early within the same generation the partition is sought back to its first
   record not taken, so nothing fetched is ever dropped on the floor. (A new generation seeks
   to the committed offsets itself.)
2. **Finished offsets in commits.** Every commit carries, in its metadata, the offsets above it
   that are already finished (:mod:`processors.offset_marks`), and a commit is made when only
   those change. Whoever gets the partition next reads them back when it seeks to the committed
   offsets, and hands those records to :meth:`IntakeHandler.skip` instead of running them again.
3. **One fetch of committed offsets with their metadata** on assignment, for (2).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from time import monotonic
from typing import Any, Protocol, cast

from aiokafka.errors import (
    CommitFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import OffsetAndMetadata
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode import Service

from processors import offset_marks
from processors.records import InboundRecord
from topics.connection import refusal

log = logging.getLogger("actionstream.intake")

Ack = Callable[[], object]
Revoke = Callable[[set[TP]], Awaitable[None]]


class IntakeHandler(Protocol):
    """Where one topic's records go (the ordered scheduler, see processors/ordering.py)."""

    async def submit(self, record: InboundRecord, ack: Ack) -> bool:
        """Take a record (may wait: backpressure); ``False`` once draining."""
        ...

    def skip(self, record: InboundRecord, ack: Ack) -> None:
        """A record an earlier owner finished: ack it in its turn, do not run it."""
        ...

    def finished_from(self, tp: tuple[str, int], offset: int) -> list[int]:
        """Finished offsets at or above ``offset`` that are not acked yet."""
        ...


class Intake:
    """The handler of each topic delivered in batches."""

    def __init__(self) -> None:
        self.handlers: dict[str, IntakeHandler] = {}

    def route(self, topic: str, handler: IntakeHandler) -> None:
        self.handlers[topic] = handler


class BatchConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer: batch delivery, finished offsets carried in commits."""

    _thread: MarkingConsumerThread

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offsets an earlier owner finished (from the committed metadata), not yet re-fetched.
        self._finished_marks: dict[TP, set[int]] = {}
        # The metadata last committed per partition: a commit is due when it changes.
        self._committed_marks: dict[TP, str] = {}

    def _new_consumer_thread(self) -> MarkingConsumerThread:
        return MarkingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def _handlers(self) -> dict[str, IntakeHandler]:
        intake = cast(Intake | None, getattr(self.app, "intake", None))
        return intake.handlers if intake is not None else {}

    # -- delivery ---------------------------------------------------------------------------------

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        handlers = self._handlers
        if not handlers:
            await super()._drain_messages(fetcher)
            return
        # The loop below follows Faust's own Consumer._drain_messages (faust-streaming 0.15):
        # read offsets, gap tracking for transactional/compacted topics, commit_every; the
        # delivery differs (see the module docstring). Keep the two in step when upgrading Faust.
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                batch: list[Message] = []
                last_seen: dict[TP, int] = {}  # this batch's newest offset per partition
                await self.sleep(0)
                if self.should_stop:
                    break
                async for tp, message in self.getmany(timeout=1.0):
                    offset = message.offset
                    r_offset = last_seen.get(tp, get_read_offset(tp))
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
                        last_seen[tp] = offset
                    else:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                if batch:
                    await self._deliver(batch, handlers)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as exc:
            # DESCRIBE was granted (the start-up check saw the topics) but not READ: say which
            # ACL, once, in the log's terms; the worker then stops (exit 1) as Faust does.
            settings = getattr(self.app, "actionstream_settings", None)
            brokers = settings.kafka if settings is not None else "the brokers"
            self.log.error("%s", refusal(exc, brokers))
            raise

    async def _deliver(self, batch: list[Message], handlers: Mapping[str, IntakeHandler]) -> None:
        """Hand a fetched batch over in order; seek back to what was not taken, if anything."""
        # The generation the batch was fetched in (Faust stamps it on every message); its
        # records mean nothing once that generation is over: the partitions may be elsewhere.
        generation = batch[0].generation_id
        taken = 0
        for message in batch:
            if self.app.consumer_generation_id != generation or not self.flow_active:
                break
            self.track_message(message)
            handler = handlers[message.topic]
            record = record_of(message)
            marks = self._finished_marks.get(message.tp)
            if marks and message.offset in marks:
                marks.discard(message.offset)
                handler.skip(record, _acker(self, message))
            elif not await handler.submit(record, _acker(self, message)):
                break  # draining for shutdown
            self._read_offset[message.tp] = message.offset
            taken += 1
        if taken < len(batch):
            await self._seek_back(batch[taken:], generation)

    async def _seek_back(self, undelivered: list[Message], generation: int | None) -> None:
        # Records not taken stay unacked: nobody commits past them. Within the same generation
        # the fetch position is past them, so it goes back; a new generation has sought (or
        # will seek) to the committed offsets, and seeking now could skip records.
        if self.app.consumer_generation_id != generation:
            return
        first: dict[TP, int] = {}
        for message in undelivered:
            first.setdefault(message.tp, message.offset)
        for tp, offset in first.items():
            try:
                await self.seek(tp, offset)
            except Exception as exc:  # e.g. the partition was unassigned meanwhile
                log.info("not seeking %s back to %d: %r", tp, offset, exc)

    # -- finished offsets in commits --------------------------------------------------------------

    async def perform_seek(self) -> None:
        await super().perform_seek()  # through MarkingConsumerThread.seek_to_committed
        metadata = self._thread.committed_metadata
        for tp, offset in self._committed_offset.items():
            if tp.topic not in self._handlers:
                continue
            text = metadata.get(tp, "")
            marks = offset_marks.decode(text, offset or 0)
            self._finished_marks[tp] = set(marks)
            self._committed_marks[tp] = text
            if marks:
                log.info("%s: skipping %d record(s) an earlier owner finished", tp, len(marks))

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Faust forgets the revoked partitions' acks first thing; before that, in-flight work
        # gets its grace period and what finished is committed, with its marks, while this
        # generation may still commit (if it already ended, the commit is refused: harmless).
        revoke = cast(Revoke | None, getattr(self.app, "revoke_in_flight", None))
        if revoke is not None and self._handlers:
            await revoke(revoked)
            await self.commit()
        for tp in revoked:
            self._finished_marks.pop(tp, None)
            self._committed_marks.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _marks_for(self, tp: TP, offset: int) -> str:
        handler = self._handlers.get(tp.topic)
        if handler is None:
            return ""
        finished = handler.finished_from((tp.topic, tp.partition), offset)
        earlier = self._finished_marks.get(tp)
        if earlier:
            finished = [*finished, *(o for o in earlier if o >= offset)]
        return offset_marks.encode(offset, finished)

    def _filter_committable_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        # Faust commits a partition only when its offset moves; ours also when the finished
        # offsets above it changed (a slow head with much finished behind it).
        offsets = super()._filter_committable_offsets(tps)
        for tp, committed in self._committed_offset.items():
            if tp in offsets or committed is None or tp.topic not in self._handlers:
                continue
            if self._marks_for(tp, committed) != self._committed_marks.get(tp, ""):
                offsets[tp] = committed
        return offsets

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        marked = {tp: (offset, self._marks_for(tp, offset)) for tp, offset in offsets.items()}
        committed = await self._thread.commit_marked(marked)
        if committed:
            self._committed_marks.update({tp: text for tp, (_, text) in marked.items()})
        return committed


class MarkingConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, committing and reading offsets with their metadata."""

    committed_metadata: dict[TP, str]

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> dict[TP, int | None]:
        # aiokafka's seek_to_committed asks for each partition's offset in turn and drops the
        # metadata; one request gets both (same seeks: only positive offsets).
        consumer = self._ensure_consumer()
        partitions = consumer.assignment()
        self.committed_metadata = {}
        if not partitions:
            return {}
        fetched = await consumer._coordinator.fetch_committed_offsets(partitions)
        offsets: dict[TP, int | None] = {}
        for tp in partitions:
            found = fetched.get(tp)
            offset = found.offset if found is not None and found.offset >= 0 else None
            offsets[tp] = offset
            if offset:
                consumer.seek(tp, offset)
                self.committed_metadata[tp] = found.metadata or ""
        return offsets

    async def commit_marked(self, offsets: Mapping[TP, tuple[int, str]]) -> bool:
        return cast(bool, await self.call_thread(self._commit_marked, offsets))

    async def _commit_marked(self, offsets: Mapping[TP, tuple[int, str]]) -> bool:
        # Faust's AIOKafkaConsumerThread._commit, with metadata.
        consumer = self._ensure_consumer()
        assignment = self.assignment()
        now = monotonic()
        commitable = {tp: value for tp, value in offsets.items() if tp in assignment}
        try:
            aiokafka_offsets = {
                aiokafka_driver.ensure_aiokafka_TP(tp): OffsetAndMetadata(offset, text)
                for tp, (offset, text) in commitable.items()
            }
            self.tp_last_committed_at.update({tp: now for tp in commitable})
            await consumer.commit(aiokafka_offsets)
        except CommitFailedError as exc:
            if "already rebalanced" in str(exc):
                return False
            self.log.exception("Committing raised exception: %r", exc)
            await self.crash(exc)
            return False
        except Exception as exc:
            self.log.exception("Got exception: %r\nCurrent assignment: %r", exc, assignment)
            await self.crash(exc)
            return False
        return True


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


def _acker(consumer: BatchConsumer, message: Message) -> Ack:
    return lambda: consumer.ack(message)
