"""A whole pipeline for one test: unique topics, a fake Telegram, credentials, a worker process."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from integrations.credentials import generate_key
from integrations.telegram.testing import FakeTelegram
from processors.settings import (
    CredentialsSettings,
    IntegrationSettings,
    KafkaSettings,
    ProcessingSettings,
    RedisSettings,
    Settings,
    TelegramSettings,
    TopicSettings,
    WorkerSettings,
)
from schemas import AvroCodec, DeadLetter, IntegrationResult
from support.kafka import collect, decode_all
from support.worker import WorkerProcess
from topics.admin import TopicAdmin
from topics.catalogue import catalogue
from topics.publisher import RequestPublisher

PARTITIONS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pipeline:
    """Handles on every part of one running pipeline."""

    settings: Settings
    fake: FakeTelegram
    worker: WorkerProcess
    publisher: RequestPublisher
    codec: AvroCodec
    credentials_file: Path
    unique: str

    def bot(self, n: int) -> str:
        return f"bot-{self.unique}-{n}"

    @staticmethod
    def token(n: int) -> str:
        return f"{100000 + n}:AAH{n:04d}-secret-token-abcdefghijklmnopqrstu"

    def write_credentials(self, bots: dict[str, dict[str, dict[str, str]]]) -> None:
        """``{bot_id: {provider: {field: value}}}``, all with the api_key strategy."""
        data = {
            bot: {provider: {"api_key": creds} for provider, creds in providers.items()}
            for bot, providers in bots.items()
        }
        self.credentials_file.write_text(json.dumps(data))

    async def results(self, count: int, *, timeout_s: float = 60.0) -> list[IntegrationResult]:
        records = await collect(
            self.settings.kafka.bootstrap_servers,
            self.settings.topics.results,
            until=lambda got: len(got) >= count,
            timeout_s=timeout_s,
        )
        return decode_all(self.codec, IntegrationResult, records)

    async def results_until(
        self, done: Callable[[list[IntegrationResult]], bool], *, timeout_s: float = 60.0
    ) -> list[IntegrationResult]:
        """Read results until ``done(results so far)`` holds."""
        decoded: list[IntegrationResult] = []

        def until(records: list[Any]) -> bool:
            decoded[len(decoded) :] = decode_all(
                self.codec, IntegrationResult, records[len(decoded) :]
            )
            return done(decoded)

        await collect(
            self.settings.kafka.bootstrap_servers,
            self.settings.topics.results,
            until=until,
            timeout_s=timeout_s,
        )
        return decoded

    async def dead_letters(self, count: int, *, timeout_s: float = 60.0) -> list[DeadLetter]:
        records = await collect(
            self.settings.kafka.bootstrap_servers,
            self.settings.topics.dlq,
            until=lambda got: len(got) >= count,
            timeout_s=timeout_s,
        )
        return decode_all(self.codec, DeadLetter, records)


def pipeline_settings(
    kafka_bootstrap: str, redis_url: str, fake: FakeTelegram, tmp_path: Path, unique: str
) -> Settings:
    prefix = f"test.{unique}"
    return Settings(
        dev_mode=False,
        kafka=KafkaSettings(
            bootstrap_servers=kafka_bootstrap, consumer_group=f"test-workers-{unique}"
        ),
        redis=RedisSettings(url=redis_url),
        topics=TopicSettings(
            requests=f"{prefix}.requests",
            results=f"{prefix}.results",
            retry=f"{prefix}.retry",
            dlq=f"{prefix}.dlq",
            commands=f"{prefix}.commands",
            partitions=PARTITIONS,
        ),
        telegram=TelegramSettings(base_url=fake.base_url, base_file_url=fake.base_file_url),
        credentials=CredentialsSettings(
            source="file",
            file_path=tmp_path / "credentials.json",
            encryption_key=SecretStr(generate_key()),
            local_ttl_s=0.5,
        ),
        integrations=IntegrationSettings(extra_modules=["support.testkit"]),
        worker=WorkerSettings(
            id=f"test-worker-{unique}", web_port=free_port(), drain_timeout_s=10.0
        ),
        # A crashed worker's claims free up after 3 s instead of 15 (tests kill workers).
        processing=ProcessingSettings(idempotency_lease_s=3.0, backoff_base_s=0.1),
    )


@asynccontextmanager
async def running_pipeline(
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    unique: str,
    *,
    adjust: Callable[[Settings], Settings] | None = None,
) -> AsyncIterator[Pipeline]:
    """Topics applied, fake and publisher started; the worker is started by the test.

    ``adjust`` may return changed settings (e.g. ``settings.model_copy(update=...)`` with
    endpoints of other fakes) before anything is started.
    """
    async with FakeTelegram(keep_wire=True) as fake:
        settings = pipeline_settings(kafka_bootstrap, redis_url, fake, tmp_path, unique)
        if adjust is not None:
            settings = adjust(settings)
        async with TopicAdmin(kafka_bootstrap) as admin:
            await admin.apply(catalogue(settings.topics))
        credentials_file = settings.credentials.file_path
        credentials_file.write_text("{}")
        worker = WorkerProcess(settings, tmp_path / "worker.log")
        publisher = RequestPublisher.from_settings(settings)
        await publisher.start()
        try:
            yield Pipeline(settings, fake, worker, publisher, AvroCodec(), credentials_file, unique)
        finally:
            await publisher.stop()
            if worker.proc is not None:
                worker.stop()
