"""Structured logs: JSON lines from a real worker, request context on every line, no secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from integrations.bot_logger import SecretRedactingFilter
from integrations.context import RequestContext, bind_request
from processors.logs import (
    ConsoleFormatter,
    JsonFormatter,
    RequestContextFilter,
    worker_logging_config,
)
from support.pipeline import Pipeline, running_pipeline


def request(bot_id: str, request_id: str, **fields: Any) -> RequestContext:
    return RequestContext(
        request_id=request_id, bot_id=bot_id, idempotency_key=request_id, **fields
    )


# Loggers whose lines are written while a request is handled (integrations log through a
# BotLogger named after their id).
REQUEST_LOGGERS = (
    "integrations.telegram_",
    "integrations.testkit_",
    "actionstream.executor",
    "actionstream.processor",
)


@pytest.fixture
async def json_pipeline(kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str) -> Any:
    async with running_pipeline(
        kafka_bootstrap, redis_url, tmp_path, unique,
        adjust=lambda s: s.model_copy(update={"log_format": "json"}),
    ) as running:  # fmt: skip
        yield running


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Every line the worker wrote, as JSON (the harness's own ``=====`` markers aside)."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("===== start #"):
            continue
        entry = json.loads(line)  # raises on any line that is not JSON
        assert {"ts", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    return entries


async def test_a_json_run_writes_parseable_lines_with_request_context_and_no_secret(
    json_pipeline: Pipeline,
) -> None:
    pipeline = json_pipeline
    bot = pipeline.bot(1)
    secret = "tk-5e4d3c2b1a-very-secret-testkit-token"
    pipeline.write_credentials(
        {bot: {"telegram": {"token": pipeline.token(1)}, "testkit": {"token": secret}}}
    )
    await pipeline.worker.astart()
    publish = pipeline.publisher.publish
    ids = {
        "sent": await publish(bot, "telegram_send_message", {"chat_id": 5, "text": "hi"}),
        "leaky": await publish(bot, "testkit_leaky", {"note": "careless"}),
        "crash": await publish(bot, "testkit_crash", {"note": "boom"}),
    }
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    await producer.start()
    try:  # undecodable: a line before any request id is known still names the bot
        await producer.send_and_wait(
            pipeline.settings.topics.requests, key=bot.encode(), value=b"not avro at all"
        )
    finally:
        await producer.stop()
    await pipeline.results(len(ids))
    await pipeline.dead_letters(2)
    await pipeline.worker.astop()

    text = pipeline.worker.logs()
    entries = parse_lines(text)
    assert any(e["message"] == "[^Worker]: Ready" for e in entries), "startup lines not JSON"
    by_request = {str(rid): case for case, rid in ids.items()}
    integration_of = {
        "sent": "telegram_send_message",
        "leaky": "testkit_leaky",
        "crash": "testkit_crash",
    }
    request_lines = [e for e in entries if e["logger"].startswith(REQUEST_LOGGERS)]
    for entry in request_lines:
        assert entry.get("bot_id") == bot, entry
        case = by_request[entry["request_id"]]
        assert entry["integration_id"] == integration_of[case], entry
    cases = {by_request[e["request_id"]]: e for e in request_lines}
    assert {"leaky", "crash"} <= set(cases)  # a successful send logs at DEBUG only
    # The processor's own line (not a BotLogger's) about the crash carries the context too.
    assert cases["crash"]["logger"] == "actionstream.executor"
    assert "RuntimeError" in cases["crash"]["message"]
    assert cases["leaky"]["logger"] == "integrations.testkit_leaky"
    assert "careless" in cases["leaky"]["message"]
    undecodable = [e for e in entries if e["message"].startswith("undecodable record")]
    assert len(undecodable) == 1
    assert undecodable[0]["bot_id"] == bot
    assert "request_id" not in undecodable[0]
    # Worker lines outside any request carry no request fields.
    ready = next(e for e in entries if e["message"] == "[^Worker]: Ready")
    assert not {"bot_id", "request_id", "integration_id"} & set(ready)
    for value in (secret, pipeline.token(1)):
        assert value not in text


# -- in process -------------------------------------------------------------------------------


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(SecretRedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("actionstream.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


async def test_each_task_logs_with_its_own_request_context(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = captured

    async def job(n: int) -> None:
        bind_request(None)
        await asyncio.sleep(0)
        bind_request(request(f"bot-{n}", f"req-{n}", integration_id="telegram_send_message"))
        for step in range(3):
            logger.info("job %d step %d", n, step)
            await asyncio.sleep(0)

    await asyncio.gather(*(job(n) for n in range(5)))
    logger.info("after the jobs")
    entries = parse_lines(stream.getvalue())
    for entry in entries[:-1]:
        n = int(entry["message"].split()[1])
        assert (entry["bot_id"], entry["request_id"]) == (f"bot-{n}", f"req-{n}")
        assert entry["integration_id"] == "telegram_send_message"
    assert "bot_id" not in entries[-1]


async def test_json_lines_redact_secrets_and_keep_exceptions_on_one_line(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = captured
    token = "123456789:AAHsecretsecretsecretsecretsecret12"

    async def job() -> None:
        bind_request(request("bot-9", "req-9", traceparent=f"00-{'4bf92f35' * 4}-{'a' * 16}-01"))
        try:
            raise ValueError(f"bad token {token}")
        except ValueError:
            logger.exception("calling with token=%s failed", "hunter2-password")

    await asyncio.create_task(job())
    text = stream.getvalue()
    assert token not in text
    assert "hunter2-password" not in text
    (entry,) = parse_lines(text)
    assert entry["level"] == "ERROR"
    assert entry["trace_id"] == "4bf92f35" * 4
    assert "ValueError: bad token ***" in entry["exception"]
    assert entry["message"] == "calling with token=*** failed"


async def test_console_lines_end_with_the_request_context(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    handler.setFormatter(ConsoleFormatter())

    async def job() -> None:
        bind_request(request("bot-3", "req-3", integration_id="x_y"))
        logger.warning("slow provider")

    await asyncio.create_task(job())
    logger.info("no request here")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(
        "[WARNING] slow provider  bot_id=bot-3 request_id=req-3 integration_id=x_y"
    )
    assert second.endswith("[INFO] no request here")


def test_the_worker_config_picks_the_formatter_and_keeps_other_loggers() -> None:
    config = worker_logging_config("json", "info")
    assert config["formatters"]["actionstream"]["()"] == "processors.logs.JsonFormatter"
    assert config["handlers"]["default"]["filters"] == ["context", "secrets"]
    assert config["handlers"]["default"]["level"] == "INFO"
    assert config["disable_existing_loggers"] is False
    console = worker_logging_config("console", "DEBUG")
    assert console["formatters"]["actionstream"]["()"] == "processors.logs.ConsoleFormatter"
