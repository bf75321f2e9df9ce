"""Kafka over SASL_SSL with exactly the README's ACLs, on the local broker's secure listener.

A real worker (subprocess) logs in as a worker principal, a bot runtime's publisher as a publisher
principal, each with only the ACLs the README lists for its role; Telegram requests go end to end.
Then what least privilege must refuse is refused: the publisher cannot consume as the workers'
group nor read dead letters (every bot's original requests), and a wrong password or an
untrusted CA fail at once with a clear error. Nothing here uses PLAINTEXT except the test's own
set-up and read-back (topics, results), as the broker's super user.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from infra import REPO
from processors.settings import Settings
from processors.web import KafkaProbe
from schemas import (
    AvroCodec,
    DeadLetter,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    utc_now,
)
from support.env import settings_env
from support.kafka import collect, decode_all
from support.operator import (
    Stamped,
    apply_topics,
    operator_settings,
    produce_at,
    result_at,
    run_cli,
)
from support.pipeline import Pipeline, free_port, running_pipeline
from support.secure_kafka import SecureKafka, find_secure_kafka
from support.tls import LocalCA
from topics.admin import TopicAdmin
from topics.audit import AuditReader
from topics.catalogue import catalogue
from topics.connection import client_options, diagnose
from topics.publisher import RequestPublisher
from topics.settings import KafkaSettings, TopicSettings

REQUESTS = 30


def grant_least_privilege(
    secure: SecureKafka, settings: Settings, worker: str, publisher: str
) -> None:
    """The README's ACL table, rows "worker" and "publisher", for this test's topics."""
    topics, group = settings.topics, settings.kafka.consumer_group
    for topic in (topics.requests, topics.retry):
        for operation in ("READ", "DESCRIBE"):
            secure.allow(worker, operation, "TOPIC", topic, "LITERAL")
    for topic in (topics.results, topics.retry, topics.dlq):
        secure.allow(worker, "WRITE", "TOPIC", topic, "LITERAL")
        secure.allow(worker, "DESCRIBE", "TOPIC", topic, "LITERAL")
    for operation in ("READ", "WRITE", "DESCRIBE"):  # bot commands, and its answers to them
        secure.allow(worker, operation, "TOPIC", topics.commands, "LITERAL")
    for operation in ("READ", "DESCRIBE"):
        secure.allow(worker, operation, "GROUP", group, "LITERAL")
    for operation in ("WRITE", "DESCRIBE"):
        secure.allow(publisher, operation, "TOPIC", topics.requests, "LITERAL")
    for operation in ("READ", "DESCRIBE"):  # for request(): waiting for a result
        secure.allow(publisher, operation, "TOPIC", topics.results, "LITERAL")


async def results(pipeline: Pipeline, plaintext: str, wanted: set[str]) -> list[IntegrationResult]:
    """The results topic read back as the super user (over PLAINTEXT), until ``wanted`` are in."""
    decoded: list[IntegrationResult] = []

    def until(records: list[object]) -> bool:
        decoded[:] = decode_all(pipeline.codec, IntegrationResult, records)  # type: ignore[arg-type]
        return wanted <= {str(r.request_id) for r in decoded}

    await collect(plaintext, pipeline.settings.topics.results, until=until, timeout_s=60)
    return decoded


async def consume_as(kafka: KafkaSettings, topic: str, group: str) -> None:
    """Read ``topic`` as a member of ``group`` for up to 5 s."""
    consumer = AIOKafkaConsumer(
        topic, **client_options(kafka), group_id=group, enable_auto_commit=False
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()


async def refused_topics(kafka: KafkaSettings, *topics: str) -> set[str]:
    """Which of ``topics`` the broker's metadata answer says ``kafka``'s principal may not see."""
    client = AIOKafkaClient(**client_options(kafka))
    await client.bootstrap()
    try:
        metadata = ClusterMetadata()
        await client._metadata_update(metadata, list(topics))
        return set(metadata.unauthorized_topics)
    finally:
        await client.close()


def start_worker(settings: Settings) -> subprocess.CompletedProcess[str]:
    """``actionstream worker`` with ``settings``, as a deployment starts it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")}
    with tempfile.TemporaryDirectory() as scratch:  # Faust's data directory goes there
        return subprocess.run(
            [sys.executable, "-m", "processors", "worker"], cwd=scratch, capture_output=True,
            text=True, env={**clean, **settings_env(settings), "PYTHONPATH": str(REPO)},
            timeout=60,
        )  # fmt: skip


async def send_rate(kafka: KafkaSettings | str, topic: str, count: int = 5000) -> float:
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        sends = [await producer.send(topic, b"x" * 200, key=b"k") for _ in range(count)]
        await asyncio.gather(*sends)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def test_a_worker_and_a_publisher_with_only_their_acls_over_sasl_ssl(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    secure = find_secure_kafka()
    worker, publisher = f"worker-{unique}", f"publisher-{unique}"
    worker_password, publisher_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    secure.user(worker, worker_password)
    secure.user(publisher, publisher_password)

    def adjust(settings: Settings) -> Settings:
        # Before anything connects: the pipeline's own publisher starts as the worker.
        grant_least_privilege(secure, settings, worker, publisher)
        login = secure.settings(worker, worker_password)
        kafka = settings.kafka.model_copy(
            update={name: getattr(login, name) for name in login.model_fields_set}
        )
        return settings.model_copy(update={"kafka": kafka})

    async with running_pipeline(
        kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
    ) as pipeline:
        settings = pipeline.settings
        bots = [pipeline.bot(n) for n in range(5)]
        pipeline.write_credentials(
            {bot: {"telegram": {"token": pipeline.token(n)}} for n, bot in enumerate(bots)}
        )
        await pipeline.worker.astart()

        as_publisher = secure.settings(publisher, publisher_password)
        runtime = RequestPublisher.from_settings(
            settings.model_copy(update={"kafka": as_publisher})
        )
        async with runtime:
            sent = []
            for n in range(REQUESTS):
                request = runtime.build(
                    bots[n % len(bots)], "telegram_send_message",
                    {"chat_id": 7000 + n, "text": f"secure {n}"},
                )  # fmt: skip
                await runtime.send(request)
                sent.append(str(request.request_id))
            waited = await runtime.request(
                bots[0], "telegram_send_message", {"chat_id": 7999, "text": "waited"}, timeout_s=30
            )
        assert waited.status is ResultStatus.SUCCEEDED
        got = await results(pipeline, kafka_bootstrap, set(sent))
        assert {r.status for r in got if str(r.request_id) in sent} == {ResultStatus.SUCCEEDED}
        assert len(pipeline.fake.messages()) == REQUESTS + 1

        # What the publisher's ACLs do not allow.
        with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
            await consume_as(as_publisher, settings.topics.requests, settings.kafka.consumer_group)
        topics = settings.topics
        assert await refused_topics(as_publisher, topics.requests, topics.dlq, topics.retry) == {
            topics.dlq, topics.retry,
        }  # fmt: skip

        # A wrong password and an untrusted CA fail at once, each naming the setting to fix:
        # for a client, for the readiness probe, and for a worker, which exits 1 with one line.
        for wrong, says in (
            (as_publisher.model_copy(update={"sasl_password": SecretStr("not-it")}),
             "refused the login of 'publisher-"),
            (as_publisher.model_copy(update={"ssl_cafile": secure.other_ca}),
             "certificate is not trusted"),
        ):  # fmt: skip
            reason = await diagnose(wrong)
            assert reason is not None and says in reason, reason
            probe = KafkaProbe(wrong)
            check = await probe.check(timeout_s=5.0)
            await probe.aclose()
            assert not check.ok and says in check.detail, check.detail
            started = time.monotonic()
            done = start_worker(settings.model_copy(update={"kafka": wrong}))
            assert done.returncode == 1, done.stderr
            assert done.stderr.strip().splitlines() == [f"error: {reason}"], done.stderr
            assert time.monotonic() - started < 30

        # A principal without its ACLs: the worker names what is missing and exits 1.
        lacking = f"lacking-{unique}"
        secure.user(lacking, worker_password)
        bare = settings.kafka.model_copy(update={"sasl_username": lacking})
        done = start_worker(settings.model_copy(update={"kafka": bare}))
        assert done.returncode == 1, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: Kafka denies {lacking}: DESCRIBE on topic"), line
        assert f"DESCRIBE and READ on group {settings.kafka.consumer_group}" in line, line
        # With DESCRIBE but not READ, only the first fetch can tell: one line names the topic.
        # Its own group (so it is assigned every partition at once) and web port: it gets as
        # far as fetching, beside the running worker.
        topics, group = settings.topics, f"lacking-{unique}"
        for topic in (topics.requests, topics.retry, topics.results, topics.dlq, topics.commands):
            secure.allow(lacking, "DESCRIBE", "TOPIC", topic, "LITERAL")
        secure.allow(lacking, "READ", "TOPIC", topics.commands, "LITERAL")  # its start-up read
        for operation in ("READ", "DESCRIBE"):
            secure.allow(lacking, operation, "GROUP", group, "LITERAL")
        alone = {
            "kafka": bare.model_copy(update={"consumer_group": group}),
            "worker": settings.worker.model_copy(
                update={"web_port": free_port(), "id": f"lacking-{unique}"}
            ),
        }
        done = start_worker(settings.model_copy(update=alone))
        assert done.returncode == 1, done.stdout[-2000:]
        # Whichever topic it fetched first: both lack READ.
        refused = re.search(
            rf"refused principal {re.escape(repr(lacking))} access to "
            rf"({re.escape(topics.requests)}|{re.escape(topics.retry)}): grant the ACLs",
            done.stdout,
        )
        assert refused is not None, done.stdout[-2000:]

        # The cost of TLS + SCRAM, printed (never asserted): the same sends, both listeners.
        scratch = settings.topics.dlq  # no worker reads it; the super user may write anywhere
        as_admin = secure.settings(*secure.admin)
        rates: dict[str, list[float]] = {"PLAINTEXT": [], "SASL_SSL": []}
        for _ in range(3):  # alternated, the best of three each: warm-up and noise out
            rates["PLAINTEXT"].append(await send_rate(kafka_bootstrap, scratch))
            rates["SASL_SSL"].append(await send_rate(as_admin, scratch))
        plain, tls = max(rates["PLAINTEXT"]), max(rates["SASL_SSL"])
        print(
            f"\nproducer sends/s: PLAINTEXT {plain:,.0f}, SASL_SSL {tls:,.0f} ({tls / plain:.2f})"
        )
        assert pipeline.worker.running


async def test_the_operator_roles_work_with_only_their_acls(
    kafka_bootstrap: str, unique: str
) -> None:
    """The README's rows for `topics apply`, audit and KEDA's lag scaler, each as its own
    principal over SASL_SSL: each can do its job, and the audit principal sees nothing else."""
    secure = find_secure_kafka()
    topics = TopicSettings(
        requests=f"ops.{unique}.requests", results=f"ops.{unique}.results",
        retry=f"ops.{unique}.retry", dlq=f"ops.{unique}.dlq",
        commands=f"ops.{unique}.commands", partitions=2,
    )  # fmt: skip
    names = [topics.requests, topics.results, topics.retry, topics.dlq, topics.commands]
    group = f"ops-workers-{unique}"
    password = secrets.token_urlsafe(18)
    admin, audit, keda = f"topics-{unique}", f"audit-{unique}", f"keda-{unique}"
    for user in (admin, audit, keda):
        secure.user(user, password)
    for operation in ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"):
        secure.allow(admin, operation, "TOPIC", f"ops.{unique}.", "PREFIXED")
    for operation in ("READ", "DESCRIBE"):
        secure.allow(audit, operation, "TOPIC", topics.results, "LITERAL")
    secure.allow(keda, "DESCRIBE", "TOPIC", topics.requests, "LITERAL")
    secure.allow(keda, "DESCRIBE", "GROUP", group, "LITERAL")

    # topics apply, as the admin principal.
    async with TopicAdmin(secure.settings(admin, password)) as topic_admin:
        reports = await topic_admin.apply(catalogue(topics))
    assert sorted(r.spec.name for r in reports) == sorted(names)

    # Give the group a commit to report, as the super user over PLAINTEXT.
    plaintext = kafka_bootstrap
    consumer = AIOKafkaConsumer(
        topics.requests, bootstrap_servers=plaintext, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=2000)
    await consumer.commit({TopicPartition(topics.requests, 0): 0})
    await consumer.stop()

    # KEDA: the group's committed offsets and the topic's end offsets, nothing more.
    lag_admin = AIOKafkaAdminClient(**client_options(secure.settings(keda, password)))
    await lag_admin.start()
    try:
        offsets = await lag_admin.list_consumer_group_offsets(group)
    finally:
        await lag_admin.close()
    assert TopicPartition(topics.requests, 0) in offsets

    # Audit: reads results, and cannot see any other topic.
    reader = AuditReader(secure.settings(audit, password), topics.results)
    assert [r async for r in reader.between(None)] == []
    assert await refused_topics(secure.settings(audit, password), *names) == {
        topics.requests, topics.retry, topics.dlq, topics.commands,
    }  # fmt: skip


async def test_replay_works_with_only_its_acls(kafka_bootstrap: str, unique: str) -> None:
    """The README's replay row over SASL_SSL: from the DLQ and from the results topic (which
    finds the original on the requests topic), republishing without a consumer group."""
    secure = find_secure_kafka()
    settings = operator_settings(kafka_bootstrap, unique)
    topics = settings.topics
    await apply_topics(settings)  # as the super user over PLAINTEXT
    codec, now = AvroCodec(), utc_now()
    request = IntegrationRequest.new(
        bot_id="bot-r", integration_id="telegram_send_message", config={"chat_id": 7, "text": "x"}
    )
    failed, _ = result_at(codec, "bot-r", now - timedelta(seconds=2), status=ResultStatus.FAILED)
    failed = replace(failed, request_id=request.request_id)
    letter = DeadLetter(
        original=codec.encode(request), original_key=b"bot-r", topic=topics.requests,
        partition=0, offset=0, timestamp=now, worker_id="w-1", failed_at=now,
        error=ErrorRecord(category="permanent", message="chat not found", code=400),
        request_id=str(request.request_id), bot_id="bot-r", integration_id=request.integration_id,
    )  # fmt: skip
    at = now - timedelta(seconds=3)
    await produce_at(
        kafka_bootstrap, topics.requests, [Stamped(b"bot-r", codec.encode(request), at)]
    )
    await produce_at(kafka_bootstrap, topics.results, [Stamped(b"bot-r", codec.encode(failed), at)])
    await produce_at(kafka_bootstrap, topics.dlq, [Stamped(b"bot-r", codec.encode(letter), at)])

    replayer, password = f"replay-{unique}", secrets.token_urlsafe(18)
    secure.user(replayer, password)
    for topic in (topics.dlq, topics.results, topics.requests):
        for operation in ("READ", "DESCRIBE"):
            secure.allow(replayer, operation, "TOPIC", topic, "LITERAL")
    as_replayer = settings.model_copy(update={"kafka": secure.settings(replayer, password)})
    refused = await run_cli(as_replayer, "replay", "--since", "5m", "--allow-side-effects")
    assert refused.exit_code == 1, refused.output
    assert f"refused principal {replayer!r} a producer id" in refused.output
    assert "grant WRITE and DESCRIBE on the topic" in refused.output

    secure.allow(replayer, "WRITE", "TOPIC", topics.requests, "LITERAL")

    for source in ("dlq", "results"):
        done = await run_cli(as_replayer, "replay", "--source", source, "--since", "5m",
                             "--allow-side-effects")  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "replayed 1, refused 0" in done.stdout, done.stdout
    replays = await collect(kafka_bootstrap, topics.requests, until=lambda got: len(got) >= 3)
    assert [codec.decode(IntegrationRequest, r.value).request_id for r in replays] == [
        request.request_id
    ] * 3
    assert await refused_topics(secure.settings(replayer, password), topics.retry) == {topics.retry}


async def test_oauthbearer_and_client_certificates_against_the_broker(
    kafka_bootstrap: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token-provider hook logs in over OAUTHBEARER as the token's principal, ACLs and all;
    a client certificate signed by the broker's CA is accepted, a stranger's is named."""
    secure = find_secure_kafka()
    allowed, other = f"oauth-ok.{unique}", f"oauth-no.{unique}"
    names = TopicSettings(
        requests=allowed, results=other, retry=f"oauth-retry.{unique}",
        dlq=f"oauth-dlq.{unique}", commands=f"oauth-commands.{unique}", partitions=1,
    )  # fmt: skip
    async with TopicAdmin(kafka_bootstrap) as admin:  # as the super user over PLAINTEXT
        await admin.apply(catalogue(names))
    principal = f"oauth-{unique}"
    for operation in ("WRITE", "DESCRIBE"):
        secure.allow(principal, operation, "TOPIC", allowed, "LITERAL")
    monkeypatch.setenv("KAFKA_JWT_SUB", principal)
    bearer = KafkaSettings(
        bootstrap_servers=secure.bootstrap, security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider="support.kafka_tokens:UnsecuredJwt",
        ssl_cafile=secure.ca,
    )  # fmt: skip
    assert await diagnose(bearer) is None
    producer = AIOKafkaProducer(**client_options(bearer), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(allowed, b"over oauthbearer")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(other, b"not allowed")
    finally:
        await producer.stop()
    (record,) = await collect(kafka_bootstrap, allowed, until=lambda got: len(got) >= 1)
    assert record.value == b"over oauthbearer"

    trusted = LocalCA.of(tmp_path, secure.ca, secure.ca.with_suffix(".key")).issue("client")
    stranger = LocalCA(tmp_path, "stranger CA").issue("stranger")
    as_admin = secure.settings(*secure.admin)
    mtls = as_admin.model_copy(update={"ssl_certfile": trusted.cert, "ssl_keyfile": trusted.key})
    assert await diagnose(mtls) is None
    await send_rate(mtls, allowed, count=10)  # the super user may write anywhere
    refused = as_admin.model_copy(
        update={"ssl_certfile": stranger.cert, "ssl_keyfile": stranger.key}
    )
    reason = await diagnose(refused)
    assert reason is not None and "refused the client certificate" in reason, reason
    assert "ACTIONSTREAM_KAFKA__SSL_CERTFILE" in reason
