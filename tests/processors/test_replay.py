"""``actionstream replay`` end to end: a worker, the fake Telegram, real Kafka and Redis."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from aiokafka import ConsumerRecord

from schemas import (
    AvroCodec,
    DeadLetter,
    ErrorRecord,
    IntegrationRequest,
    IntegrationResult,
    ResultStatus,
    utc_now,
)
from support.kafka import collect
from support.operator import (
    Stamped,
    apply_topics,
    consumer_groups,
    operator_settings,
    produce_at,
    result_at,
    run_cli,
)
from support.pipeline import Pipeline
from topics.audit import AuditReader

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FAILED, SUCCEEDED, DUPLICATE = ResultStatus.FAILED, ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE
Records = list[ConsumerRecord[bytes, bytes]]


def ids_in(text: str) -> set[str]:
    return set(UUID_RE.findall(text))


async def replays_on_requests_topic(pipeline: Pipeline, count: int) -> Records:
    """The records on the requests topic that carry a ``replay-of`` header (at least ``count``)."""

    def replayed(records: Records) -> Records:
        return [r for r in records if any(k == "replay-of" for k, _ in r.headers)]

    records = await collect(
        pipeline.settings.kafka.bootstrap_servers,
        pipeline.settings.topics.requests,
        until=lambda got: len(replayed(got)) >= count,
    )
    return replayed(records)


async def results_for(
    pipeline: Pipeline, wanted: Callable[[IntegrationResult], bool], count: int
) -> list[IntegrationResult]:
    results = await pipeline.results_until(lambda rs: len([r for r in rs if wanted(r)]) >= count)
    return [r for r in results if wanted(r)]


async def test_replay_lists_guards_republishes_and_never_runs_a_success_twice(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = pipeline.settings
    settings.integrations.extra_modules.append("support.replaykit")  # worker and CLI both
    bot, other = pipeline.bot(1), pipeline.bot(2)
    pipeline.write_credentials(
        {b: {"telegram": {"token": pipeline.token(n)}} for n, b in ((1, bot), (2, other))}
    )
    await pipeline.worker.astart()
    fake = pipeline.fake
    fake.inject("chat_not_found", chat_id=101)
    fake.inject("blocked", chat_id=102)
    outage = fake.inject("server_error", chat_id=103, times=None)  # outlasts every retry
    fake.inject("chat_not_found", chat_id=201)
    fake.inject("disconnect", chat_id=104)  # hangs up after reading: it may have been delivered
    gate = tmp_path / "gate"
    gate.touch()

    since = (utc_now() - timedelta(seconds=1)).isoformat()
    send = "telegram_send_message"
    publish = pipeline.publisher.publish
    ok = await publish(bot, send, {"chat_id": 100, "text": "fine"})
    failed = {
        "not_found": await publish(bot, send, {"chat_id": 101, "text": "to 101"}),
        "blocked": await publish(bot, send, {"chat_id": 102, "text": "to 102"}),
        "server": await publish(bot, send, {"chat_id": 103, "text": "to 103"}),
        "lookup": await publish(bot, "replaykit_lookup", {"gate": str(gate)}),
        "dropped": await publish(bot, send, {"chat_id": 104, "text": "to 104"}),
    }
    other_failed = await publish(other, send, {"chat_id": 201, "text": "to 201"})
    first = {r.request_id: r for r in await pipeline.results(7, timeout_s=90)}
    assert first[ok].status is SUCCEEDED
    definite = [failed[k] for k in ("not_found", "blocked", "server", "lookup")]
    assert all(first[rid].status is FAILED for rid in [*definite, other_failed])
    assert first[failed["dropped"]].status is ResultStatus.OUTCOME_UNKNOWN
    server_error = first[failed["server"]].error
    assert server_error is not None and server_error.category == "transient"
    telegram_ids = {str(failed[k]) for k in ("not_found", "blocked", "server")}
    all_ids = {str(rid) for rid in failed.values()}

    # -- dry runs list exactly the failures the filters select, say why, and change nothing ---
    dry = await run_cli(settings, "replay", "--since", since, "--bot", bot, "--dry-run")
    assert dry.exit_code == 1, dry.output  # one would be refused
    assert ids_in(dry.stdout) == all_ids
    assert "dry run: read 6, matched 5, would replay 4, refused 1, undecodable 0" in dry.stdout
    # Telegram refused the three (400, 403, 5xx answers), the lookup failed before any call:
    # none had an effect. The hang-up after the request was read may have delivered it.
    assert "replay (4): no attempt may have had its effect" in dry.stdout
    assert "an attempt may have had its effect and telegram_send_message is non_idempotent" in (
        dry.stdout.replace("\n", " ")
    )
    transient = await run_cli(settings, "replay", "--since", since, "--dry-run", "--bot", bot,
                              "--error-category", "transient", "--allow-side-effects")  # fmt: skip
    assert transient.exit_code == 0, transient.output
    assert ids_in(transient.stdout) == {str(failed["server"])}
    from_results = await run_cli(settings, "replay", "--source", "results", "--since", since,
                                 "--bot", bot, "--dry-run")  # fmt: skip
    assert ids_in(from_results.stdout) == all_ids
    assert "would replay 4, refused 1, undecodable 0, not found 0" in from_results.stdout
    everyone = await run_cli(settings, "replay", "--since", since, "--dry-run", "--status",
                             "FAILED", "--integration", send)  # fmt: skip
    assert ids_in(everyone.stdout) == {*telegram_ids, str(other_failed)}
    requests_before = await collect(
        settings.kafka.bootstrap_servers, settings.topics.requests, until=lambda got: len(got) >= 7
    )
    assert len(requests_before) == 7  # nothing was republished

    # -- the guard: what had no effect replays without --allow-side-effects -------------------
    gate.unlink()
    outage.remaining = 0
    sent_before = len(fake.messages())
    guarded = await run_cli(settings, "replay", "--since", since, "--bot", bot)
    assert guarded.exit_code == 1, guarded.output
    assert "replayed 4, refused 1" in guarded.stdout
    (lookup,) = (await results_for(pipeline, lambda r: r.request_id == failed["lookup"], 2))[1:]
    assert lookup.status is SUCCEEDED  # a new result for the same request_id
    telegram = {failed[k] for k in ("not_found", "blocked", "server")}
    second = await results_for(pipeline, lambda r: r.request_id in telegram, 6)
    assert [r.status for r in second[3:]] == [SUCCEEDED] * 3
    messages = await fake.wait_for_messages(sent_before + 3)
    assert sorted(m.text or "" for m in messages[sent_before:]) == ["to 101", "to 102", "to 103"]

    # Each replay is linked to the dead letter it replays, and starts over at attempt 1.
    letters = await collect(
        settings.kafka.bootstrap_servers, settings.topics.dlq, until=lambda got: len(got) >= 6
    )
    position = {
        str(pipeline.codec.decode(DeadLetter, r.value).request_id): (
            f"dlq:{r.topic}:{r.partition}:{r.offset}"
        )
        for r in letters
    }
    replays = await replays_on_requests_topic(pipeline, 4)
    for record in replays:
        request = pipeline.codec.decode(IntegrationRequest, record.value)
        header = dict(record.headers)["replay-of"].decode()
        assert header == position[str(request.request_id)]
        assert record.key == bot.encode()
        assert request.attempt == 1
        assert request.not_before is None and request.deadline is None

    # -- the one that may have been delivered needs the flag; its key is kept, so the worker
    # -- answers with the stored unknown outcome and sends nothing -----------------------------
    flagged = await run_cli(settings, "replay", "--since", since, "--bot", bot, "--status",
                            "OUTCOME_UNKNOWN", "--allow-side-effects")  # fmt: skip
    assert flagged.exit_code == 0, flagged.output
    assert "replayed 1, refused 0" in flagged.stdout
    dropped = await results_for(pipeline, lambda r: r.request_id == failed["dropped"], 2)
    assert dropped[1].status is DUPLICATE
    assert len(fake.messages(chat_id=104)) <= 1

    # -- replaying what has succeeded since: DUPLICATE, and no second message -----------------
    again = await run_cli(settings, "replay", "--since", since, "--bot", bot, "--status",
                          "FAILED", "--integration", send, "--allow-side-effects")  # fmt: skip
    assert again.exit_code == 0, again.output
    third = await results_for(pipeline, lambda r: r.request_id in telegram, 9)
    assert [r.status for r in third[6:]] == [DUPLICATE] * 3
    assert len(fake.messages()) == sent_before + 3

    # -- a new idempotency key runs it again, and says so -------------------------------------
    fresh = await run_cli(settings, "replay", "--since", since, "--bot", bot, "--error-category",
                          "transient", "--allow-side-effects", "--new-idempotency-key")  # fmt: skip
    assert fresh.exit_code == 0, fresh.output
    assert "1 request(s) get a new idempotency key" in fresh.stdout
    rerun = await results_for(pipeline, lambda r: r.request_id == failed["server"], 4)
    assert rerun[-1].status is SUCCEEDED
    assert [m.text for m in await fake.wait_for_messages(2, chat_id=103)] == ["to 103"] * 2


async def test_replay_from_results_finds_the_request_and_links_the_result(
    pipeline: Pipeline,
) -> None:
    settings = pipeline.settings
    bot = pipeline.bot(3)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(3)}}})
    await pipeline.worker.astart()
    pipeline.fake.inject("blocked", chat_id=301)
    since = (utc_now() - timedelta(seconds=1)).isoformat()
    request_id = await pipeline.publisher.publish(
        bot, "telegram_send_message", {"chat_id": 301, "text": "hello again"},
        idempotency_key=f"order-{uuid.uuid4()}",
    )  # fmt: skip
    (failure,) = await pipeline.results(1)
    assert failure.status is FAILED
    results = await collect(
        settings.kafka.bootstrap_servers, settings.topics.results, until=lambda got: len(got) >= 1
    )

    done = await run_cli(settings, "replay", "--source", "results", "--since", since,
                         "--allow-side-effects")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "replayed 1" in done.stdout
    (replay,) = await replays_on_requests_topic(pipeline, 1)
    (original,) = results
    header = dict(replay.headers)["replay-of"].decode()
    assert header == f"results:{original.topic}:{original.partition}:{original.offset}"
    request = pipeline.codec.decode(IntegrationRequest, replay.value)
    assert request.request_id == request_id
    assert request.idempotency_key is not None and request.idempotency_key.startswith("order-")
    second = await results_for(pipeline, lambda r: r.request_id == request_id, 2)
    assert second[1].status is SUCCEEDED
    assert [m.text for m in pipeline.fake.messages(chat_id=301)] == ["hello again"]

    # An audit reader following the results next to the worker is no member of its group.
    reader = AuditReader.from_settings(settings)
    got_both = asyncio.Event()

    async def follow() -> None:
        seen = 0
        async for _ in reader.follow(since=utc_now() - timedelta(hours=1)):
            seen += 1
            if seen == 2:  # the failure and the replay's success: the reader is running
                got_both.set()

    follower = asyncio.create_task(follow())
    try:
        async with asyncio.timeout(20):
            await got_both.wait()
        groups = await consumer_groups(settings.kafka.bootstrap_servers, pipeline.unique)
    finally:
        follower.cancel()
    assert set(groups) == {settings.kafka.consumer_group}  # no group of the readers' own
    members = groups[settings.kafka.consumer_group]
    assert members and not [m for m in members if "audit" in m or "replay" in m or "reader" in m]


# -- without a worker: what the replay reads and publishes, on the real broker --------------------


def dead_letter(
    request: IntegrationRequest,
    *,
    category: str = "permanent",
    original: bytes | None = None,
    headers: tuple[tuple[str, bytes | None], ...] = (),
) -> DeadLetter:
    """A dead letter as a worker writes it; ``original`` replaces the request's bytes."""
    now = utc_now()
    return DeadLetter(
        original=AvroCodec().encode(request) if original is None else original,
        original_key=request.bot_id.encode(),
        topic="requests",
        partition=0,
        offset=7,
        timestamp=now,
        error=ErrorRecord(category=category, message=f"{category} failure", code=400),
        worker_id="w-1",
        failed_at=now,
        headers=headers,
        request_id=None if original is not None else str(request.request_id),
        bot_id=request.bot_id,
        integration_id=request.integration_id,
    )


async def test_dead_letters_that_cannot_be_replayed_are_listed_and_skipped(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    codec = AvroCodec()
    now = utc_now()
    retried = IntegrationRequest.new(
        bot_id="bot-7", integration_id="telegram_send_message",
        config={"chat_id": 7, "text": "again"}, deadline=now - timedelta(minutes=1),
    ).retry(not_before=now + timedelta(hours=1))  # fmt: skip
    retried = replace(retried, attempt=3)
    unknown = IntegrationRequest.new(bot_id="bot-7", integration_id="telegram_send_message",
                                     config={"chat_id": 8, "text": "maybe sent"})  # fmt: skip
    trace = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    letters = [
        Stamped(b"bot-7", b"garbage on the dlq", now - timedelta(seconds=4)),
        Stamped(
            b"bot-7",
            codec.encode(dead_letter(unknown, category="undecodable", original=b"\xc3\x01junk")),
            now - timedelta(seconds=3),
        ),
        Stamped(
            b"bot-7",
            codec.encode(
                dead_letter(
                    retried, headers=(("traceparent", trace), ("x-actionstream-attempts", b"[...]"))
                )
            ),
            now - timedelta(seconds=2),
        ),
        Stamped(
            b"bot-7",
            codec.encode(dead_letter(unknown, category="outcome_unknown")),
            now - timedelta(seconds=1),
        ),
    ]
    await produce_at(kafka_bootstrap, settings.topics.dlq, letters)

    dry = await run_cli(settings, "replay", "--since", "5m", "--dry-run", "--allow-side-effects")
    assert dry.exit_code == 1, dry.output
    assert "dry run: read 4, matched 4, would replay 2, refused 0, undecodable 2" in dry.stdout
    assert f"dlq:{settings.topics.dlq}:" in dry.stdout
    assert "the dead letter itself does not decode" in dry.stdout
    assert "the original bytes are not a request" in dry.stdout
    assert "1 OUTCOME_UNKNOWN request(s) keep their key" in dry.stdout
    # Two dead letters are of FAILED results (the garbage one's status is unknown); --limit
    # keeps the oldest.
    limited = await run_cli(settings, "replay", "--since", "5m", "--dry-run", "--limit", "1",
                            "--status", "FAILED", "--allow-side-effects")  # fmt: skip
    assert "matched 2, would replay 0, refused 0, undecodable 1, beyond --limit 1" in (
        limited.stdout
    )

    done = await run_cli(settings, "replay", "--since", "5m", "--error-category", "permanent",
                         "--allow-side-effects", "--deadline", "10m")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "replayed 1, refused 0, undecodable 0" in done.stdout
    (record,) = await collect(
        kafka_bootstrap, settings.topics.requests, until=lambda got: len(got) >= 1
    )
    dlq_record = 2  # the third record produced; every record went to one partition (one key)
    headers = dict(record.headers)
    assert headers["replay-of"].decode().startswith(f"dlq:{settings.topics.dlq}:")
    assert headers["replay-of"].decode().endswith(f":{dlq_record}")
    assert headers["traceparent"] == trace
    assert "x-actionstream-attempts" not in headers  # attempt starts over
    replayed = codec.decode(IntegrationRequest, record.value)
    assert replayed.request_id == retried.request_id
    assert (replayed.attempt, replayed.not_before) == (1, None)
    assert replayed.deadline is not None
    assert timedelta(minutes=9) < replayed.deadline - utc_now() <= timedelta(minutes=10)
    assert replayed.config == retried.config and replayed.created_at == retried.created_at


async def test_results_whose_request_is_gone_or_unreadable_are_listed(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    result, record = result_at(AvroCodec(), "bot-9", utc_now(), status=FAILED)
    garbage = Stamped(b"bot-9", b"\x00\x00\x00\x00\x09 from elsewhere", utc_now())
    await produce_at(kafka_bootstrap, settings.topics.results, [record, garbage])
    done = await run_cli(settings, "replay", "--source", "results", "--since", "5m",
                         "--allow-side-effects", "--lookback", "2h")  # fmt: skip
    assert done.exit_code == 1, done.output
    assert str(result.request_id) in done.stdout
    assert "replayed 0, refused 0, undecodable 1, not found 1" in done.stdout
    assert "undecodable (1): the result does not decode: unknown schema registry id 9" in (
        done.stdout
    )
    assert f"request not found on {settings.topics.requests}" in done.stdout
    assert "replay it from the DLQ" in done.stdout


async def test_a_result_never_replays_another_bots_request_with_the_same_request_id(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    await apply_topics(settings)
    codec = AvroCodec()
    result, record = result_at(codec, "bot-9", utc_now(), status=FAILED)
    # Another tenant published a request with the same request_id (ids are the publisher's).
    theirs = replace(
        IntegrationRequest.new(bot_id="bot-other", integration_id=result.integration_id, config={}),
        request_id=result.request_id,
    )
    earlier = utc_now() - timedelta(seconds=5)
    await produce_at(
        kafka_bootstrap, settings.topics.requests,
        [Stamped(b"bot-other", codec.encode(theirs), earlier)],
    )  # fmt: skip
    await produce_at(kafka_bootstrap, settings.topics.results, [record])
    done = await run_cli(settings, "replay", "--source", "results", "--since", "5m",
                         "--dry-run", "--allow-side-effects")  # fmt: skip
    assert "not found 1" in done.stdout, done.output
    assert "would replay 0" in done.stdout


async def test_bad_replay_options_fail_clearly_with_exit_2(
    kafka_bootstrap: str, unique: str
) -> None:
    settings = operator_settings(kafka_bootstrap, unique)
    cases = [
        (["--since", "tomorrowish"], "cannot read 'tomorrowish' as a time"),
        (["--since", "1h", "--integration", "telegram_sendmessage"], "unknown integration"),
        (["--since", "1h", "--status", "SUCCEEDED"], "is not one of: EXPIRED, FAILED"),
        (["--since", "1h", "--lookback", "a while"], "is not a duration"),
        (["--since", "1h", "--source", "kafka"], "Invalid value for '--source'"),
        ([], "Missing option '--since'"),
    ]
    for args, message in cases:
        done = await run_cli(settings, "replay", *args)
        assert done.exit_code == 2, (args, done.output)
        assert message in done.output, (args, done.output)
