"""End to end on the real broker, Redis and the fake Telegram: one result per request, always."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from processors.settings import Settings
from schemas import ResultStatus, utc_now
from support.kafka import collect
from support.pipeline import Pipeline, running_pipeline

BOTS = 20
REQUESTS = 200


async def test_every_request_gets_one_result_and_every_message_arrives(
    pipeline: Pipeline,
) -> None:
    pipeline.write_credentials(
        {pipeline.bot(b): {"telegram": {"token": pipeline.token(b)}} for b in range(BOTS)}
    )
    await pipeline.worker.astart()

    published: dict[str, tuple[int, int, str]] = {}
    for i in range(REQUESTS):
        b = i % BOTS
        text = f"message {i} from bot {b}"
        request_id = await pipeline.publisher.publish(
            pipeline.bot(b), "telegram_send_message", {"chat_id": 5000 + b, "text": text}
        )
        published[str(request_id)] = (b, 5000 + b, text)

    results = await pipeline.results(REQUESTS)
    assert len(results) == REQUESTS
    assert {str(r.request_id) for r in results} == set(published)
    for result in results:
        b, _, _ = published[str(result.request_id)]
        assert result.bot_id == pipeline.bot(b)
        assert result.status is ResultStatus.SUCCEEDED, result
        assert result.envelope().ok
        assert result.worker_id == pipeline.settings.worker.id

    messages = await pipeline.fake.wait_for_messages(REQUESTS, timeout_s=10)
    assert len(messages) == REQUESTS
    sent_by_chat: dict[int, list[str]] = defaultdict(list)
    for call in messages:
        sent_by_chat[int(call.chat_id)].append(call.text or "")  # type: ignore[arg-type]
        b = int(call.chat_id) - 5000  # type: ignore[arg-type]
        assert call.token == pipeline.token(b), "a bot's message went out with another token"
    expected_by_chat: dict[int, list[str]] = defaultdict(list)
    for _b, chat, text in published.values():
        expected_by_chat[chat].append(text)
    assert sent_by_chat == expected_by_chat  # right chat, right text, publish order


async def test_failures_each_get_a_clear_result_and_the_worker_keeps_going(
    pipeline: Pipeline,
) -> None:
    with_creds, without_creds = pipeline.bot(1), pipeline.bot(2)
    secret = "tk-9f8e7d6c5b4a-very-secret-testkit-token"
    pipeline.write_credentials(
        {
            with_creds: {
                "telegram": {"token": pipeline.token(1)},
                "testkit": {"token": secret},
            }
        }
    )
    await pipeline.worker.astart()
    publish = pipeline.publisher.publish
    past = utc_now() - timedelta(seconds=5)
    ids = {
        "unknown": await publish(with_creds, "nosuch_action", {}),
        "invalid": await publish(with_creds, "telegram_send_message", {"chat_id": 1, "text": ""}),
        "no_creds": await publish(
            without_creds, "telegram_send_message", {"chat_id": 2, "text": "hi"}
        ),
        "crash": await publish(with_creds, "testkit_crash", {"note": "boom"}),
        "expired": await publish(
            with_creds, "telegram_send_message", {"chat_id": 3, "text": "late"}, deadline=past
        ),
        "leaky": await publish(with_creds, "testkit_leaky", {"note": "careless"}),
        "after": await publish(with_creds, "telegram_send_message", {"chat_id": 4, "text": "ok"}),
    }
    results = {str(r.request_id): r for r in await pipeline.results(len(ids))}
    by_case = {case: results[str(rid)] for case, rid in ids.items()}

    unknown = by_case["unknown"]
    assert unknown.status is ResultStatus.FAILED
    assert unknown.error is not None and unknown.error.category == "not_found"
    assert "nosuch_action" in unknown.error.message

    invalid = by_case["invalid"]
    assert invalid.status is ResultStatus.FAILED
    assert invalid.error is not None and invalid.error.category == "invalid_config"
    assert "$.text" in invalid.error.message

    no_creds = by_case["no_creds"]
    assert no_creds.status is ResultStatus.FAILED
    envelope = no_creds.envelope()
    assert envelope.ok is False and envelope.error_code == 401  # the seed's envelope
    assert envelope.description == "Credentials not found"

    crash = by_case["crash"]
    assert crash.status is ResultStatus.FAILED
    assert crash.error is not None and crash.error.category == "internal"
    assert "RuntimeError" in crash.error.message

    expired = by_case["expired"]
    assert expired.status is ResultStatus.EXPIRED
    assert expired.error is not None and expired.error.category == "expired"

    assert by_case["leaky"].status is ResultStatus.SUCCEEDED
    assert by_case["after"].status is ResultStatus.SUCCEEDED
    # Only the last valid send and nothing else reached Telegram.
    assert [(m.chat_id, m.text) for m in pipeline.fake.messages()] == [(4, "ok")]

    letters = await pipeline.dead_letters(4)
    assert {letter.request_id for letter in letters} == {
        str(ids[case]) for case in ("unknown", "invalid", "no_creds", "crash")
    }

    # No credential anywhere: results, dead letters (raw bytes) and the worker's log.
    raw = await collect(
        pipeline.settings.kafka.bootstrap_servers,
        pipeline.settings.topics.results,
        until=lambda got: len(got) >= len(ids),
    )
    raw += await collect(
        pipeline.settings.kafka.bootstrap_servers,
        pipeline.settings.topics.dlq,
        until=lambda got: len(got) >= 4,
    )
    logs = pipeline.worker.logs()
    assert "careless" in logs, "the leaky integration's log line is missing"
    for value in (secret, pipeline.token(1)):
        assert all(value.encode() not in r.value for r in raw)
        assert value not in logs


async def test_garbage_bytes_go_to_the_dlq_and_the_stream_goes_on(pipeline: Pipeline) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    await pipeline.worker.astart()
    garbage = [b"\x00\x00\x00\x00\x07garbage", b"plain text, not avro", b"\xc3\x01" + b"\xff" * 8]
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for value in garbage:
            await producer.send_and_wait(
                pipeline.settings.topics.requests, key=bot.encode(), value=value
            )
    finally:
        await producer.stop()
    request_id = await pipeline.publisher.publish(
        bot, "telegram_send_message", {"chat_id": 7, "text": "after the garbage"}
    )

    letters = await pipeline.dead_letters(len(garbage))
    assert sorted(letter.original for letter in letters) == sorted(garbage)
    for letter in letters:
        assert letter.error.category == "undecodable"
        assert letter.original_key == bot.encode()
        assert letter.topic == pipeline.settings.topics.requests
    (result,) = await pipeline.results(1)
    assert result.request_id == request_id
    assert result.status is ResultStatus.SUCCEEDED


async def test_request_waits_for_the_result_of_a_telegram_send(pipeline: Pipeline) -> None:
    bot = pipeline.bot(3)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(3)}}})
    await pipeline.worker.astart()
    result = await pipeline.publisher.request(
        bot, "telegram_send_message", {"chat_id": 42, "text": "answer me"}, timeout_s=30
    )
    assert result.status is ResultStatus.SUCCEEDED
    message = json.loads(result.response)["result"]
    assert message["chat"]["id"] == 42
    assert message["text"] == "answer me"


async def test_the_agent_intake_gives_the_same_results(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    """``ACTIONSTREAM_WORKER__INTAKE=agent`` (Faust's stream, one event at a time) still works."""

    def agent_intake(settings: Settings) -> Settings:
        worker = settings.worker.model_copy(update={"intake": "agent"})
        return settings.model_copy(update={"worker": worker})

    async with running_pipeline(
        kafka_bootstrap, redis_url, tmp_path, unique, adjust=agent_intake
    ) as pipeline:
        pipeline.write_credentials(
            {pipeline.bot(b): {"telegram": {"token": pipeline.token(b)}} for b in range(5)}
        )
        await pipeline.worker.astart()
        requests = [
            pipeline.publisher.build(
                pipeline.bot(i % 5), "telegram_send_message", {"chat_id": 300 + i, "text": f"m{i}"}
            )
            for i in range(50)
        ]
        await pipeline.publisher.send_many(requests)
        results = await pipeline.results(len(requests))
    assert {r.request_id for r in results} == {r.request_id for r in requests}
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    for b in range(5):
        texts = [m.text for m in pipeline.fake.messages(token=pipeline.token(b))]
        assert texts == [f"m{i}" for i in range(b, 50, 5)]
