"""The operators' side of the commands topic: publish a bot command, read the log, wait for
the workers' answers (``actionstream bots …``, ``actionstream audit commands``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from topics.bot_commands import (
    BotCommand,
    CommandApplied,
    CommandError,
    ControlRecord,
    decode_control,
    encode_control,
)
from topics.connection import client_options
from topics.readers import assign_all, groupless_consumer, read_to_end
from topics.settings import StreamSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """A commands-topic record and where it sits."""

    offset: int
    record: ControlRecord


class CommandsTopic:
    """Publishes commands and reads the commands topic, without a consumer group."""

    def __init__(self, settings: StreamSettings) -> None:
        self._settings = settings
        self._topic = settings.topics.commands

    async def send(self, command: BotCommand) -> int:
        """Publish ``command`` (acks from all in-sync replicas); returns its offset."""
        producer = AIOKafkaProducer(
            **client_options(self._settings.kafka),
            client_id=f"{self._settings.kafka.client_id}-commands",
            acks="all",
            enable_idempotence=True,
        )
        try:
            await producer.start()
            metadata = await producer.send_and_wait(
                self._topic, encode_control(command), key=command.bot_id.encode()
            )
        finally:
            await producer.stop()
        return int(metadata.offset)

    async def log(self, *, bot_id: str | None = None) -> list[LoggedRecord]:
        """Every record on the topic up to now, oldest first (only ``bot_id``'s if given)."""
        found: list[LoggedRecord] = []
        async with self._consumer() as consumer:
            async for raw in read_to_end(consumer, self._topic):
                if bot_id is not None and raw.key != bot_id.encode():
                    continue
                try:
                    found.append(LoggedRecord(raw.offset, decode_control(raw.value)))
                except CommandError as exc:
                    log.warning("skipping offset %d: %s", raw.offset, exc)
        return found

    async def answers(
        self, command: BotCommand, after: int, *, timeout_s: float
    ) -> AsyncIterator[CommandApplied]:
        """The workers' answers to ``command`` (published at offset ``after``), as they come,
        for ``timeout_s``."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with self._consumer() as consumer:
            assignment = await assign_all(consumer, self._topic)
            for tp in assignment:
                consumer.seek(tp, after + 1)
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                batches = await consumer.getmany(timeout_ms=max(1, int(min(left, 0.2) * 1000)))
                for records in batches.values():
                    for raw in records:
                        try:
                            record = decode_control(raw.value)
                        except CommandError:
                            continue
                        if (
                            isinstance(record, CommandApplied)
                            and record.command_id == command.command_id
                        ):
                            yield record

    @contextlib.asynccontextmanager
    async def _consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        consumer = groupless_consumer(self._settings.kafka)
        try:
            await consumer.start()
            yield consumer
        finally:
            await consumer.stop()
