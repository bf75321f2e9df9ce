"""The delivery guarantees, on the real broker, Redis and fake Telegram, with a real worker process.

Order per bot with concurrency, no loss and no double send across kill -9 and SIGTERM, a 429
storm that parks only its bot, and replays that do not send twice. Timings are printed, never
asserted (except one generous bound on the storm test, which is what that test is about).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter, defaultdict

import pytest
from aiokafka import AIOKafkaProducer

from schemas import IntegrationRequest, IntegrationResult, ResultStatus
from support.pipeline import Pipeline

FINAL = {ResultStatus.SUCCEEDED, ResultStatus.OUTCOME_UNKNOWN, ResultStatus.FAILED}


def chat_of(bot: int, n: int = 0) -> int:
    return 10_000 + bot * 1_000 + n


def build_load(
    pipeline: Pipeline, bots: int, per_bot: int, *, spread: bool = True
) -> list[IntegrationRequest]:
    """``per_bot`` numbered messages for each bot, interleaved across bots as a runtime would.

    With ``spread`` each message goes to a chat of its own, so Telegram's 1 msg/s per chat limit
    (which the worker enforces) does not set the pace; order is then checked per bot token.
    """
    pipeline.write_credentials(
        {pipeline.bot(b): {"telegram": {"token": pipeline.token(b)}} for b in range(bots)}
    )
    requests = []
    for n in range(per_bot):
        for b in range(bots):
            requests.append(
                pipeline.publisher.build(
                    pipeline.bot(b),
                    "telegram_send_message",
                    {"chat_id": chat_of(b, n if spread else 0), "text": f"seq {n}"},
                )
            )
    return requests


def assert_per_bot_order(pipeline: Pipeline, bots: int) -> None:
    """Each bot's messages reached Telegram in publish order (gaps allowed: unknown outcomes)."""
    for b in range(bots):
        texts = [m.text for m in pipeline.fake.messages(token=pipeline.token(b))]
        numbers = [int(t.split()[1]) for t in texts if t]
        assert numbers == sorted(numbers), f"bot {b}: delivered out of order: {numbers}"


# The same guarantees on a Redis Cluster (3 masters, 3 replicas): conftest's ``redis_cluster``.
ON_ONE_REDIS_AND_A_CLUSTER = pytest.mark.parametrize(
    "pipeline", ["single", "cluster"], indirect=True
)


def latest_by_request(results: list[IntegrationResult]) -> dict[str, list[IntegrationResult]]:
    by_id: dict[str, list[IntegrationResult]] = defaultdict(list)
    for result in results:
        by_id[str(result.request_id)].append(result)
    return by_id


@ON_ONE_REDIS_AND_A_CLUSTER
async def test_order_per_bot_with_concurrency_across_bots(pipeline: Pipeline) -> None:
    bots, per_bot = 100, 20
    pipeline.fake.latency_s, pipeline.fake.jitter_s = 0.01, 0.04
    requests = build_load(pipeline, bots, per_bot)
    await pipeline.worker.astart()
    started = time.monotonic()
    await pipeline.publisher.send_many(requests)
    results = await pipeline.results(len(requests), timeout_s=120)
    elapsed = time.monotonic() - started

    assert {str(r.request_id) for r in results} == {str(r.request_id) for r in requests}
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    assert len(pipeline.fake.messages()) == len(requests)
    assert_per_bot_order(pipeline, bots)
    for b in range(bots):
        texts = [m.text for m in pipeline.fake.messages(token=pipeline.token(b))]
        assert texts == [f"seq {n}" for n in range(per_bot)]
    serial_s = len(requests) * (pipeline.fake.latency_s + pipeline.fake.jitter_s / 2)
    print(
        f"\n{len(requests)} requests over {bots} bots in {elapsed:.2f}s; one at a time would "
        f"take at least {serial_s:.2f}s of provider latency alone: {serial_s / elapsed:.1f}x faster"
    )


@ON_ONE_REDIS_AND_A_CLUSTER
async def test_kill_9_three_times_loses_nothing_and_sends_nothing_twice(
    pipeline: Pipeline,
) -> None:
    bots, per_bot = 50, 20
    pipeline.fake.latency_s, pipeline.fake.jitter_s = 0.02, 0.08
    requests = build_load(pipeline, bots, per_bot)
    await pipeline.worker.astart()
    await pipeline.publisher.send_many(requests)
    rng = random.Random()
    for _ in range(3):
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        pipeline.worker.kill()
        await pipeline.worker.astart()
    wanted = {str(r.request_id) for r in requests}
    results = await pipeline.results_until(
        lambda got: wanted <= {str(r.request_id) for r in got},
        timeout_s=180,
    )

    by_id = latest_by_request(results)
    assert set(by_id) == wanted, "a request has no result"
    delivered = Counter((m.chat_id, m.text) for m in pipeline.fake.messages())
    duplicates = {k: n for k, n in delivered.items() if n > 1}
    assert duplicates == {}, f"sent twice: {duplicates}"
    outcome_unknown = 0
    for request in requests:
        results_of = by_id[str(request.request_id)]
        statuses = [r.status for r in results_of]
        final = [r for r in results_of if r.status in FINAL]
        assert len(final) <= 1, f"{request.request_id}: {statuses}"
        assert set(statuses) - FINAL <= {ResultStatus.DUPLICATE}
        # A crash between storing a result and publishing it leaves only its re-emission,
        # status DUPLICATE, carrying the stored response.
        effective = final[0] if final else results_of[0]
        config = request.config_dict()
        times = delivered[(config["chat_id"], config["text"])]
        if effective.envelope().ok:
            assert times == 1, f"{request.request_id}: {statuses}, delivered {times}x"
        else:
            # Telegram's policy is at-most-once: an interrupted send is reported, not repeated.
            assert effective.error is not None
            assert effective.error.category == "outcome_unknown", effective.error
            assert times <= 1
            outcome_unknown += 1
    in_flight_bound = 3 * pipeline.settings.worker.max_in_flight
    assert outcome_unknown <= in_flight_bound
    assert_per_bot_order(pipeline, bots)
    print(
        f"\nafter 3 kills: {len(requests)} requests, {outcome_unknown} OUTCOME_UNKNOWN, "
        f"{sum(len(v) for v in by_id.values()) - len(by_id)} extra DUPLICATE results, "
        f"0 messages sent twice"
    )


@ON_ONE_REDIS_AND_A_CLUSTER
async def test_sigterm_drains_and_exits_0_then_nothing_is_missing(pipeline: Pipeline) -> None:
    bots, per_bot = 30, 20
    pipeline.fake.latency_s, pipeline.fake.jitter_s = 0.02, 0.05
    requests = build_load(pipeline, bots, per_bot)
    await pipeline.worker.astart()
    await pipeline.publisher.send_many(requests)
    await asyncio.sleep(1.0)
    started = time.monotonic()
    code = await pipeline.worker.astop(timeout_s=60)
    stopped_in = time.monotonic() - started
    assert code == 0, pipeline.worker.tail()
    assert stopped_in < pipeline.settings.worker.drain_timeout_s + 15
    await pipeline.worker.astart()
    wanted = {str(r.request_id) for r in requests}
    results = await pipeline.results_until(
        lambda got: wanted <= {str(r.request_id) for r in got}, timeout_s=120
    )
    by_id = latest_by_request(results)
    assert set(by_id) == wanted
    assert all(
        {r.status for r in rs} <= {ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE}
        for rs in by_id.values()
    ), "a graceful stop must not leave an action in doubt"
    delivered = Counter((m.chat_id, m.text) for m in pipeline.fake.messages())
    assert max(delivered.values()) == 1
    assert_per_bot_order(pipeline, bots)
    print(f"\nSIGTERM: exit 0 after {stopped_in:.1f}s")


@ON_ONE_REDIS_AND_A_CLUSTER
async def test_a_429_storm_parks_only_its_bot(pipeline: Pipeline) -> None:
    bots, per_bot, stormed = 20, 10, 0
    pipeline.fake.latency_s = 0.01
    requests = build_load(pipeline, bots, per_bot)
    storm = pipeline.fake.inject(
        "rate_limit", token=pipeline.token(stormed), times=None, retry_after=1
    )
    await pipeline.worker.astart()
    published_at = time.time()
    await pipeline.publisher.send_many(requests)
    others = {str(r.request_id) for r in requests if r.bot_id != pipeline.bot(stormed)}
    calm = await pipeline.results_until(
        lambda got: others <= {str(r.request_id) for r in got}, timeout_s=60
    )
    latencies = [
        r.finished_at.timestamp() - published_at for r in calm if str(r.request_id) in others
    ]
    await asyncio.sleep(max(0.0, 10 - (time.time() - published_at)))
    storm.remaining = 0
    wanted = {str(r.request_id) for r in requests}
    results = await pipeline.results_until(
        lambda got: wanted <= {str(r.request_id) for r in got}, timeout_s=90
    )
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)
    median = statistics.median(latencies)
    assert median < 5.0, f"other bots were held up by the storm: median {median:.2f}s"
    texts = [m.text for m in pipeline.fake.messages(token=pipeline.token(stormed))]
    assert texts == [f"seq {n}" for n in range(per_bot)]
    assert storm.hits >= 5
    print(
        f"\n429 storm: other bots' median latency {median:.2f}s; storm answered {storm.hits} 429s"
    )


@ON_ONE_REDIS_AND_A_CLUSTER
async def test_republishing_a_completed_request_is_a_duplicate_not_a_second_send(
    pipeline: Pipeline,
) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    await pipeline.worker.astart()
    request = pipeline.publisher.build(
        bot, "telegram_send_message", {"chat_id": 5, "text": "only once"}
    )
    await pipeline.publisher.send(request)
    (first,) = await pipeline.results(1)
    await pipeline.publisher.send(request)  # the very same request_id again
    first_again, second = await pipeline.results(2)
    assert first_again == first
    assert first.status is ResultStatus.SUCCEEDED
    assert second.status is ResultStatus.DUPLICATE
    assert second.request_id == request.request_id
    assert second.response == first.response
    assert [m.text for m in pipeline.fake.messages()] == ["only once"]


async def test_a_poisoned_stream_never_stops_the_valid_requests(pipeline: Pipeline) -> None:
    bots = 5
    pipeline.write_credentials(
        {
            pipeline.bot(b): {
                "telegram": {"token": pipeline.token(b)},
                "testkit": {"token": f"tk-{b}-secret-value"},
            }
            for b in range(bots)
        }
    )
    await pipeline.worker.astart()
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.kafka.bootstrap_servers)
    await producer.start()
    valid, poison, garbage = [], [], 0
    try:
        for n in range(40):
            bot = pipeline.bot(n % bots)
            kind = n % 5
            if kind == 0:
                await producer.send_and_wait(
                    pipeline.settings.topics.requests, key=bot.encode(), value=b"\x00junk%d" % n
                )
                garbage += 1
                continue
            if kind == 1:
                integration, config = "nosuch_action", {}
            elif kind == 2:
                integration, config = "telegram_send_message", {"chat_id": 1, "text": ""}
            elif kind == 3:
                integration, config = "testkit_crash", {"note": "boom"}
            else:
                request = pipeline.publisher.build(
                    bot, "telegram_send_message", {"chat_id": 900 + n, "text": f"ok {n}"}
                )
                await pipeline.publisher.send(request)
                valid.append(request)
                continue
            request = IntegrationRequest.new(bot_id=bot, integration_id=integration, config=config)
            await pipeline.publisher.send(request)
            poison.append(request)
    finally:
        await producer.stop()

    wanted = {str(r.request_id) for r in valid + poison}
    results = await pipeline.results_until(lambda got: wanted <= {str(r.request_id) for r in got})
    by_id = {str(r.request_id): r for r in results}
    assert all(by_id[str(r.request_id)].status is ResultStatus.SUCCEEDED for r in valid)
    assert all(by_id[str(r.request_id)].status is ResultStatus.FAILED for r in poison)
    letters = await pipeline.dead_letters(len(poison) + garbage)
    assert sum(1 for d in letters if d.error.category == "undecodable") == garbage
    assert {d.request_id for d in letters if d.request_id} == {str(r.request_id) for r in poison}
    assert sorted(m.text for m in pipeline.fake.messages()) == sorted(
        r.config_dict()["text"] for r in valid
    )
    assert pipeline.worker.running
