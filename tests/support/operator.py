"""Helpers for the operator tools' tests: records at chosen times, and the CLI run in a thread."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import Result
from typer.testing import CliRunner

from processors.cli import cli
from processors.settings import KafkaSettings, Settings, TopicSettings
from schemas import AvroCodec, ErrorRecord, IntegrationResult, ResultStatus
from support.env import settings_env
from topics.admin import TopicAdmin
from topics.catalogue import catalogue
from topics.timerange import to_millis


@dataclass(frozen=True)
class Stamped:
    """One record to produce with an explicit Kafka timestamp."""

    key: bytes
    value: bytes
    at: datetime
    headers: Sequence[tuple[str, bytes]] = field(default=())


def operator_settings(bootstrap: str, unique: str, *, partitions: int = 3) -> Settings:
    prefix = f"ops.{unique}"
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(
            requests=f"{prefix}.requests",
            results=f"{prefix}.results",
            retry=f"{prefix}.retry",
            dlq=f"{prefix}.dlq",
            commands=f"{prefix}.commands",
            partitions=partitions,
        ),
    )


async def apply_topics(settings: Settings) -> None:
    async with TopicAdmin(settings.kafka.bootstrap_servers) as admin:
        await admin.apply(catalogue(settings.topics))


async def produce_at(bootstrap: str, topic: str, records: Sequence[Stamped]) -> None:
    """Produce in order, each with its own timestamp, and wait until the broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                topic,
                key=record.key,
                value=record.value,
                timestamp_ms=to_millis(record.at),
                headers=list(record.headers) or None,
            )
    finally:
        await producer.stop()


def result_at(
    codec: AvroCodec,
    bot: str,
    at: datetime,
    *,
    status: ResultStatus = ResultStatus.SUCCEEDED,
    integration: str = "telegram_send_message",
    category: str | None = None,
) -> tuple[IntegrationResult, Stamped]:
    """A result finished at ``at``, and the record publishing it then."""
    error = None
    if status is not ResultStatus.SUCCEEDED:
        error = ErrorRecord(category=category or "permanent", message="no", code=400)
    result = IntegrationResult(
        request_id=uuid.uuid4(),
        bot_id=bot,
        integration_id=integration,
        status=status,
        response='{"ok":true,"result":{"n":1}}' if error is None else '{"ok":false}',
        received_at=at - timedelta(milliseconds=40),
        started_at=at - timedelta(milliseconds=30),
        finished_at=at,
        worker_id="w-1",
        error=error,
    )
    return result, Stamped(bot.encode(), codec.encode(result), at)


_runner = CliRunner()


async def run_cli(settings: Settings, *args: str, columns: int = 200) -> Result:
    """``actionstream <args>`` in-process, in a thread (the command runs its own event loop
    while this test's loop keeps serving the fakes), configured by ``settings``; tables are
    ``columns`` wide."""
    env = {**settings_env(settings), "COLUMNS": str(columns)}
    return await asyncio.to_thread(_runner.invoke, cli, list(args), env=env)


async def consumer_groups(bootstrap: str, fragment: str) -> dict[str, list[str]]:
    """Consumer groups whose id contains ``fragment``, with their members' client ids."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name, _ in await admin.list_consumer_groups() if fragment in name]
        if not names:
            return {}
        described = await admin.describe_consumer_groups(names)
    finally:
        await admin.close()
    return {
        group["group"]: [member["client_id"] for member in group["members"]]
        for response in described
        for group in response.to_object()["groups"]
    }
