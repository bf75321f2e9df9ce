"""The batch intake's delivery: generations, read offsets, seeking back, skipping, commit marks.

Faust's consumer is built for real (as the worker builds it) but not started: ``getmany`` is
replaced by a scripted fetch, so each test decides what a rebalance does in the middle of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from faust.types import TP
from faust.types.tuples import ConsumerMessage

from processors import offset_marks
from processors.app import create_app
from processors.intake import BatchConsumer
from processors.records import InboundRecord
from processors.settings import Settings

TOPIC = "integration.requests"


class Handler:
    """Records what the intake hands over; ``on_submit`` may change the world meanwhile."""

    def __init__(self, on_submit: Callable[[InboundRecord], bool] | None = None) -> None:
        self.submitted: list[int] = []
        self.skipped: list[int] = []
        self.finished: list[int] = []
        self._on_submit = on_submit

    async def submit(self, record: InboundRecord, ack: Callable[[], object]) -> bool:
        if self._on_submit is not None and not self._on_submit(record):
            return False
        self.submitted.append(record.offset)
        return True

    def skip(self, record: InboundRecord, ack: Callable[[], object]) -> None:
        self.skipped.append(record.offset)

    def finished_from(self, tp: tuple[str, int], offset: int) -> list[int]:
        return [o for o in self.finished if o >= offset]


class Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


def message(offset: int, generation: int, partition: int = 0) -> ConsumerMessage:
    tp = TP(TOPIC, partition)
    return ConsumerMessage(
        TOPIC, partition, offset, 0.0, 0, [], b"bot", b"v", None, 3, 1, tp,
        generation_id=generation,
    )  # fmt: skip


def consumer_with(handler: Handler) -> BatchConsumer:
    app = create_app(Settings())
    app.intake.route(TOPIC, handler)
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    return consumer


def script_fetches(
    consumer: BatchConsumer, fetcher: Fetcher, batches: list[Callable[[], list[ConsumerMessage]]]
) -> None:
    """Each ``getmany`` runs the next step (which may change the generation) and yields its
    messages; after the last one the fetcher stops."""
    steps = iter(batches)

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, ConsumerMessage]]:  # noqa: ASYNC109
        step = next(steps, None)
        if step is None:
            fetcher._stopped.set()
            return
        for msg in step():
            yield msg.tp, msg

    consumer.getmany = getmany  # type: ignore[method-assign]


def record_seeks(consumer: BatchConsumer) -> list[tuple[TP, int]]:
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer.seek = seek  # type: ignore[method-assign]
    return seeks


async def drain(consumer: BatchConsumer, fetcher: Fetcher) -> None:
    await asyncio.wait_for(consumer._drain_messages(fetcher), 5)


async def test_a_batch_fetched_after_a_rebalance_is_delivered_in_its_own_generation() -> None:
    # The stall of issue 12: getmany waited through a rebalance (generation 4 -> 5) and returned
    # records of the new generation; comparing them with the generation read before the wait
    # dropped all of them, and nothing sought back.
    handler = Handler()
    consumer = consumer_with(handler)
    consumer.app.consumer_generation_id = 4
    fetcher = Fetcher()
    seeks = record_seeks(consumer)

    def rebalance_then_fetch() -> list[ConsumerMessage]:
        consumer.app.consumer_generation_id = 5
        return [message(o, generation=5) for o in range(10, 15)]

    script_fetches(consumer, fetcher, [rebalance_then_fetch])
    await drain(consumer, fetcher)
    assert handler.submitted == [10, 11, 12, 13, 14]
    assert consumer._read_offset[TP(TOPIC, 0)] == 14
    assert seeks == []


async def test_stopping_early_in_the_same_generation_seeks_back_to_the_first_not_taken() -> None:
    def stop_flow_at_12(record: InboundRecord) -> bool:
        if record.offset == 12:
            consumer.stop_flow()  # a rebalance begins: later records are not handed over
        return True

    handler = Handler(stop_flow_at_12)
    consumer = consumer_with(handler)
    consumer.app.consumer_generation_id = 3
    fetcher = Fetcher()
    seeks = record_seeks(consumer)
    script_fetches(consumer, fetcher, [lambda: [message(o, 3) for o in range(10, 15)]])
    await drain(consumer, fetcher)
    assert handler.submitted == [10, 11, 12]
    assert seeks == [(TP(TOPIC, 0), 13)]
    assert consumer._read_offset[TP(TOPIC, 0)] == 12, "records not taken were marked read"


async def test_a_drain_refusal_is_not_marked_read_and_is_sought_back() -> None:
    handler = Handler(lambda record: record.offset < 11)
    consumer = consumer_with(handler)
    consumer.app.consumer_generation_id = 3
    fetcher = Fetcher()
    seeks = record_seeks(consumer)
    script_fetches(
        consumer, fetcher, [lambda: [message(10, 3), message(11, 3), message(5, 3, partition=1)]]
    )
    await drain(consumer, fetcher)
    assert handler.submitted == [10]
    assert seeks == [(TP(TOPIC, 0), 11), (TP(TOPIC, 1), 5)]


async def test_a_generation_that_ends_mid_batch_stops_delivery_without_seeking() -> None:
    # The new generation seeks to the committed offsets itself; a seek of ours to offset 13
    # could jump over records that were handed over but never finished.
    def new_generation_at_12(record: InboundRecord) -> bool:
        if record.offset == 12:
            consumer.app.consumer_generation_id = 8
        return True

    handler = Handler(new_generation_at_12)
    consumer = consumer_with(handler)
    consumer.app.consumer_generation_id = 7
    fetcher = Fetcher()
    seeks = record_seeks(consumer)
    script_fetches(consumer, fetcher, [lambda: [message(o, 7) for o in range(10, 15)]])
    await drain(consumer, fetcher)
    assert handler.submitted == [10, 11, 12]
    assert seeks == []


async def test_records_an_earlier_owner_finished_are_skipped_not_run() -> None:
    handler = Handler()
    consumer = consumer_with(handler)
    consumer.app.consumer_generation_id = 2
    consumer._finished_marks[TP(TOPIC, 0)] = {11, 13}
    fetcher = Fetcher()
    script_fetches(consumer, fetcher, [lambda: [message(o, 2) for o in range(10, 15)]])
    await drain(consumer, fetcher)
    assert handler.submitted == [10, 12, 14]
    assert handler.skipped == [11, 13]
    assert consumer._finished_marks[TP(TOPIC, 0)] == set()


def test_commits_carry_finished_offsets_and_are_due_when_only_those_change() -> None:
    handler = Handler()
    consumer = consumer_with(handler)
    tp = TP(TOPIC, 0)
    consumer._committed_offset[tp] = 100
    consumer._finished_marks[tp] = {104}  # from the previous owner, not re-fetched yet
    handler.finished = [101, 102]
    text = consumer._marks_for(tp, 100)
    assert offset_marks.decode(text, 100) == {101, 102, 104}
    # no new acks: Faust alone would not commit; the marks changed, so a commit is due
    assert consumer._filter_committable_offsets([]) == {tp: 100}
    consumer._committed_marks[tp] = text
    assert consumer._filter_committable_offsets([]) == {}
