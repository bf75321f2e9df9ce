"""Follows the commands topic into the worker's :class:`~processors.bot_control.BotControl`.

At start the feed reads the topic from its beginning to its end before the worker takes any
request (:meth:`ControlFeed.start`), so a restarted worker keeps a paused bot paused. Then it
follows the topic with a long-poll fetch (a command takes effect within about
``fetch_wait_ms`` of being written) and answers every command it applies live with a
:class:`~topics.bot_commands.CommandApplied` saying what it found of the bot's actions.

A record that is not a command (a bad write to the topic) is logged and skipped: it changes
nothing, and the feed goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import ConsumerRecord

from processors.bot_control import BotControl
from processors.sink import OutputSink
from schemas import utc_now
from topics.bot_commands import (
    MAX_LISTED,
    BotCommand,
    CommandApplied,
    CommandError,
    decode_control,
    encode_control,
)
from topics.readers import groupless_consumer, read_to_end
from topics.settings import KafkaSettings

log = logging.getLogger("actionstream.control")

Started = Callable[[str], list[str]]
Waiting = Callable[[str], int]


class ControlFeed:
    """Reads every bot command, applies it, and answers the live ones."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        control: BotControl,
        *,
        sink: OutputSink,
        worker_id: str,
        started: Started,
        waiting: Waiting,
        fetch_wait_ms: int = 200,
    ) -> None:
        self._topic = topic
        self._control = control
        self._sink = sink
        self._worker_id = worker_id
        self._started = started
        self._waiting = waiting
        self._consumer = groupless_consumer(
            kafka, client_id=f"{kafka.client_id}-control", fetch_max_wait_ms=fetch_wait_ms
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, timeout_s: float = 60.0) -> None:
        """Read the topic to its end (the state a restarted worker must keep), then follow it."""
        try:
            await self._consumer.start()
            async with asyncio.timeout(timeout_s):
                async for record in read_to_end(self._consumer, self._topic):
                    self._take(record)
        except BaseException:  # a failed start leaves a client to close too
            await self._consumer.stop()
            raise
        log.info(
            "bot commands: %d applied from %s, %d bot(s) paused",
            self._control.applied,
            self._topic,
            self._control.paused_bots,
        )
        self._task = asyncio.create_task(self._follow(), name="control-feed")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup: aiokafka reconnects; keep following
                log.exception("reading %s failed; retrying", self._topic)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    command = self._take(record)
                    if command is not None:
                        await self._answer(command)

    def _take(self, record: ConsumerRecord[bytes, bytes]) -> BotCommand | None:
        try:
            decoded = decode_control(record.value)
        except CommandError as exc:
            log.warning(
                "skipping %s[%d]@%d: not a bot command (%s)",
                record.topic, record.partition, record.offset, exc,
            )  # fmt: skip
            return None
        if not isinstance(decoded, BotCommand):
            return None  # a worker's answer: for people and `bots status`
        self._control.apply(decoded)
        log.info("bot %s: %s", decoded.bot_id, decoded.describe())
        return decoded

    async def _answer(self, command: BotCommand) -> None:
        started = self._started(command.bot_id)
        applied = CommandApplied(
            command_id=command.command_id, bot_id=command.bot_id, worker_id=self._worker_id,
            applied_at=utc_now(), executing=tuple(started[:MAX_LISTED]),
            executing_count=len(started), waiting=self._waiting(command.bot_id),
        )  # fmt: skip
        try:
            async with asyncio.timeout(10):
                await self._sink.publish(
                    self._topic, command.bot_id.encode(), encode_control(applied)
                )
        except TimeoutError:
            log.warning("could not answer command %s in time", command.command_id)
