"""Operators' bot commands end to end, on a real worker, Kafka and Redis: pause stops a bot's
calls at the fake within about a second while other bots go on, resume delivers the rest in
order, cancel answers CANCELLED with no call, a restarted worker keeps a paused bot paused, and
a paused bot's records do not hold back other partitions' commits, and an executing request
finishes under a cancel, as the workers' answer says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from schemas import IntegrationRequest, IntegrationResult, ResultStatus
from support.pipeline import Pipeline
from topics.bot_commands import BotAction, BotCommand
from topics.commands_client import CommandsTopic


def texts(pipeline: Pipeline, token: str) -> list[str]:
    return [
        str(call.params["text"])
        for call in pipeline.fake.calls
        if call.method == "sendMessage" and call.token == token
    ]


def messages(pipeline: Pipeline, bot: str, count: int, tag: str) -> list[IntegrationRequest]:
    return [
        # One chat per message: Telegram's 1/s per chat would otherwise pace the test.
        pipeline.publisher.build(
            bot, "telegram_send_message", {"chat_id": 1000 + n, "text": f"{tag}{n}"}
        )
        for n in range(count)
    ]


async def command(
    pipeline: Pipeline, bot: str, action: BotAction, *, before: datetime | None = None
) -> None:
    issued = BotCommand.new(bot, action, issued_by="test@ci", reason="test", before=before)
    await CommandsTopic(pipeline.settings).send(issued)


async def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def by_request(results: list[IntegrationResult]) -> dict[str, ResultStatus]:
    return {str(r.request_id): r.status for r in results}


async def test_pause_stops_a_bot_at_once_others_go_on_and_resume_delivers_the_rest_in_order(
    pipeline: Pipeline,
) -> None:
    paused, other = pipeline.bot(1), pipeline.bot(2)
    pipeline.write_credentials(
        {pipeline.bot(n): {"telegram": {"token": pipeline.token(n)}} for n in (1, 2)}
    )
    pipeline.fake.latency_s = 0.05
    backlog = messages(pipeline, paused, 60, "p")
    await pipeline.worker.astart()
    await pipeline.publisher.send_many(backlog)
    await wait_for(lambda: len(texts(pipeline, pipeline.token(1))) >= 5)

    await command(pipeline, paused, BotAction.PAUSE)
    issued = time.monotonic()
    await asyncio.sleep(1.0)
    at_pause = len(texts(pipeline, pipeline.token(1)))
    others = messages(pipeline, other, 20, "o")
    await pipeline.publisher.send_many(others)
    wanted = {str(r.request_id) for r in others}
    await pipeline.results_until(lambda got: wanted <= set(by_request(got)), timeout_s=60)
    await asyncio.sleep(1.0)
    # Within about a second of the command no new call of the paused bot starts.
    assert len(texts(pipeline, pipeline.token(1))) == at_pause < len(backlog)
    print(f"\npaused after {at_pause} of {len(backlog)} calls; {time.monotonic() - issued:.1f}s")
    assert texts(pipeline, pipeline.token(2)) == [f"o{n}" for n in range(20)]

    await command(pipeline, paused, BotAction.RESUME)
    ids = {str(r.request_id) for r in backlog}
    results = await pipeline.results_until(lambda got: ids <= set(by_request(got)), timeout_s=60)
    assert {by_request(results)[i] for i in ids} == {ResultStatus.SUCCEEDED}
    assert texts(pipeline, pipeline.token(1)) == [f"p{n}" for n in range(len(backlog))]


async def test_cancel_answers_cancelled_without_a_call_and_a_restart_keeps_a_bot_paused(
    pipeline: Pipeline,
) -> None:
    bot, neighbour = pipeline.bot(1), pipeline.bot(2)
    pipeline.write_credentials(
        {pipeline.bot(n): {"telegram": {"token": pipeline.token(n)}} for n in (1, 2)}
    )
    await pipeline.worker.astart()
    await command(pipeline, bot, BotAction.PAUSE)
    await asyncio.sleep(1.0)
    first = messages(pipeline, bot, 10, "c")
    await pipeline.publisher.send_many(first)
    await asyncio.sleep(1.0)
    assert texts(pipeline, pipeline.token(1)) == []

    # A worker restarted while the bot is paused keeps it paused.
    await pipeline.worker.astop()
    await pipeline.worker.astart()
    kept = messages(pipeline, bot, 5, "k")
    await pipeline.publisher.send_many(kept)
    # The neighbour's records run meanwhile, and their partitions' commits move on.
    around = messages(pipeline, neighbour, 10, "n")
    await pipeline.publisher.send_many(around)
    wanted = {str(r.request_id) for r in around}
    await pipeline.results_until(lambda got: wanted <= set(by_request(got)), timeout_s=60)
    assert texts(pipeline, pipeline.token(1)) == []

    # Cancel what was published before `kept`: CANCELLED, never sent; `kept` still waits.
    await command(pipeline, bot, BotAction.CANCEL, before=kept[0].created_at)
    cancelled = {str(r.request_id) for r in first}
    results = await pipeline.results_until(
        lambda got: cancelled <= set(by_request(got)), timeout_s=60
    )
    statuses = by_request(results)
    assert {statuses[i] for i in cancelled} == {ResultStatus.CANCELLED}
    cancelled_results = [r for r in results if str(r.request_id) in cancelled]
    assert all(r.error is not None and r.error.category == "cancelled" for r in cancelled_results)
    await asyncio.sleep(1.0)
    assert texts(pipeline, pipeline.token(1)) == []
    assert not {str(r.request_id) for r in kept} & set(statuses)

    # Partitions without the paused bot's records have committed to their end.
    await committed_to_end(pipeline, exclude=partition_of(pipeline, bot))

    await command(pipeline, bot, BotAction.RESUME)
    ids = {str(r.request_id) for r in kept}
    results = await pipeline.results_until(lambda got: ids <= set(by_request(got)), timeout_s=60)
    assert texts(pipeline, pipeline.token(1)) == [f"k{n}" for n in range(5)]
    assert sum(1 for r in results if r.status is ResultStatus.CANCELLED) == len(first)


def partition_of(pipeline: Pipeline, bot: str) -> int:
    partitions = list(range(pipeline.settings.topics.partitions))
    return int(DefaultPartitioner()(bot.encode(), partitions, partitions))


async def committed_to_end(pipeline: Pipeline, *, exclude: int) -> None:
    settings = pipeline.settings
    topic = settings.topics.requests
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await consumer.start()
        try:
            tps = [
                TopicPartition(topic, p) for p in range(settings.topics.partitions) if p != exclude
            ]
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()

        async def caught_up() -> bool:
            offsets = await admin.list_consumer_group_offsets(settings.kafka.consumer_group)
            return all((offsets[tp].offset if tp in offsets else 0) >= ends[tp] for tp in tps)

        deadline = time.monotonic() + 30
        while not await caught_up():
            assert time.monotonic() < deadline, "commits of other partitions did not catch up"
            await asyncio.sleep(0.25)
    finally:
        await admin.close()


async def test_cancel_lets_an_executing_request_finish_and_the_answer_says_so(
    pipeline: Pipeline,
) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    pipeline.fake.latency_s = 3.0
    await pipeline.worker.astart()
    running, queued = messages(pipeline, bot, 2, "r")
    await pipeline.publisher.send_many([running, queued])
    await wait_for(lambda: len(texts(pipeline, pipeline.token(1))) >= 1)

    topic = CommandsTopic(pipeline.settings)
    cancel = BotCommand.new(bot, BotAction.CANCEL, issued_by="test@ci")
    offset = await topic.send(cancel)
    answers = [a async for a in topic.answers(cancel, offset, timeout_s=2.0)]
    assert [(a.executing, a.executing_count, a.waiting) for a in answers] == [
        ((str(running.request_id),), 1, 1)
    ]
    ids = {str(running.request_id), str(queued.request_id)}
    results = await pipeline.results_until(lambda got: ids <= set(by_request(got)), timeout_s=30)
    assert by_request(results) == {
        str(running.request_id): ResultStatus.SUCCEEDED,
        str(queued.request_id): ResultStatus.CANCELLED,
    }
    assert texts(pipeline, pipeline.token(1)) == ["r0"]
