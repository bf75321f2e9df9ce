"""The test infrastructure itself: a real broker and a real Redis, and loud failure without them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra import REPO, InfraUnavailable, find_kafka, find_redis

MESSAGES = 1_000
PARTITIONS = 4


async def test_kafka_keyed_round_trip_through_a_consumer_group(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"test.roundtrip.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sends = [
            await producer.send(topic, key=f"bot-{i % 37}".encode(), value=str(i).encode())
            for i in range(MESSAGES)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"test-group-{unique}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[tuple[bytes, bytes, int]] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < MESSAGES:
                batch = await consumer.getmany(timeout_ms=1_000)
                for records in batch.values():
                    seen.extend((r.key, r.value, r.partition) for r in records)  # type: ignore[misc]
            await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted(int(v) for _, v, _ in seen) == list(range(MESSAGES))
    partitions_by_key: dict[bytes, set[int]] = {}
    for key, _, partition in seen:
        partitions_by_key.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions_by_key.values()), "a key spread over partitions"
    assert len(Counter(p for _, _, p in seen)) == PARTITIONS, "keys did not spread over partitions"


async def test_redis_round_trip(redis_client: aioredis.Redis, unique: str) -> None:
    key = f"test:roundtrip:{unique}"
    await redis_client.set(key, "value", ex=60)
    assert await redis_client.get(key) == b"value"
    assert await redis_client.ttl(key) > 0


def test_wrong_broker_address_fails_with_what_was_tried() -> None:
    with pytest.raises(InfraUnavailable) as caught:
        find_kafka({"ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    message = str(caught.value)
    assert "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:1" in message
    assert "nothing answers on 127.0.0.1:1" in message
    assert "make up" in message


def test_wrong_redis_address_fails_with_what_was_tried() -> None:
    with pytest.raises(InfraUnavailable, match=r"redis://127\.0\.0\.1:1/0"):
        find_redis({"ACTIONSTREAM_REDIS__URL": "redis://127.0.0.1:1/0"})


def test_a_test_needing_kafka_fails_not_skips_when_the_broker_is_wrong(tmp_path: Path) -> None:
    """Run pytest on a one-test file with a wrong broker address: the outcome is an error."""
    (tmp_path / "test_needs_kafka.py").write_text(
        textwrap.dedent(
            """
            def test_uses_kafka(kafka_bootstrap):
                raise AssertionError("must not get here")
            """
        )
    )
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    env = {
        "PATH": "/usr/bin:/bin",
        "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "PYTHONPATH": str(REPO / "tests"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 error" in output, output
    assert "skipped" not in output, output
    assert "No Kafka broker for the tests" in output, output
