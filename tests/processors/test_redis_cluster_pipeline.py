"""The pipeline on a real Redis Cluster (3 masters, 3 replicas, from `stack.sh cluster`).

Two workers against the cluster through kill -9 and SIGTERM, with the same guarantees as on one
Redis (support.chaos.assert_safe: every request answered, nothing sent twice, order kept, one
answer each). Then a master holding a third of the bots' keys is killed mid-run and its replica
takes over: nothing is lost and nothing is sent twice, with and without
``claim_replicas`` (claims that wait for a replica). Redis replication is asynchronous, so a
write the dead master acknowledged but had not passed on is lost; the figures printed here say
what that cost in each run. ``-m slow`` runs the soak that combines worker kills with master
kills (``SOAK_RUNS``, default 10).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import uuid4

import pytest

from processors.idempotency import Claim, ClaimState, IdempotencyStore
from processors.redis_client import make_client
from processors.redis_scripts import RedisUnavailableError, ScriptRunner
from processors.settings import RedisSettings
from support.chaos import Report, assert_safe, crash_run
from support.pipeline import Pipeline, running_pipeline
from support.redis_cluster import RedisClusterStack, on_cluster

BOTS = 60


@pytest.fixture
async def cluster_pipeline(
    kafka_bootstrap: str, redis_cluster: RedisClusterStack, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    redis_cluster.flushall()
    adjust = on_cluster(redis_cluster)
    async with running_pipeline(kafka_bootstrap, "", tmp_path, unique, adjust=adjust) as running:
        yield running


def busiest_master(stack: RedisClusterStack, pipeline: Pipeline, bots: int) -> int:
    """The master serving the idempotency keys of the most bots."""
    masters = Counter(stack.master_of(f"{{{pipeline.bot(b)}}}") for b in range(bots))
    port, _ = masters.most_common(1)[0]
    return port


def master_failover(stack: RedisClusterStack, pipeline: Pipeline) -> Callable[[], object]:
    """An event for :func:`crash_run`: kill the busiest master, wait for its replica to serve,
    then restart the dead node (it rejoins as a replica), as a supervisor would."""

    async def fail_over() -> None:
        victim = busiest_master(stack, pipeline, BOTS)
        tags = [f"{{{pipeline.bot(b)}}}" for b in range(BOTS)]
        theirs = [tag for tag in tags if stack.master_of(tag) == victim]
        started = time.monotonic()
        await asyncio.to_thread(stack.kill_master, victim)
        new = await asyncio.to_thread(stack.wait_failover, theirs[0], victim)
        took = time.monotonic() - started
        await asyncio.to_thread(stack.restart_node, victim)
        await asyncio.to_thread(wait_for_replica, stack, new, victim)
        print(
            f"\nmaster 127.0.0.1:{victim} ({len(theirs)} of {BOTS} bots) killed; its replica "
            f"127.0.0.1:{new} served after {took:.1f} s; the old master follows it after "
            f"{time.monotonic() - started:.1f} s"
        )

    return fail_over


def wait_for_replica(stack: RedisClusterStack, master: int, replica: int) -> None:
    deadline = time.monotonic() + 30
    while replica not in stack.replicas(master):
        assert time.monotonic() < deadline, f"127.0.0.1:{replica} did not rejoin 127.0.0.1:{master}"
        time.sleep(0.1)


async def run_with_failover(
    pipeline: Pipeline, stack: RedisClusterStack, tmp_path: Path, events: list[str]
) -> Report:
    return await crash_run(
        pipeline, tmp_path, workers=2, bots=BOTS, per_bot=20, events=events,
        rng=random.Random(), actions={"redis": master_failover(stack, pipeline)},
    )  # fmt: skip


@pytest.mark.timeout(300)
async def test_two_workers_on_a_cluster_through_kills_and_a_sigterm(
    cluster_pipeline: Pipeline, tmp_path: Path
) -> None:
    figures = await crash_run(
        cluster_pipeline, tmp_path, workers=2, bots=BOTS, per_bot=20, events=["kill", "term"],
        rng=random.Random(),
    )  # fmt: skip
    assert_safe(figures)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("claim_replicas", [0, 1])
async def test_a_master_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    kafka_bootstrap: str,
    redis_cluster: RedisClusterStack,
    tmp_path: Path,
    unique: str,
    claim_replicas: int,
) -> None:
    redis_cluster.flushall()
    adjust = on_cluster(redis_cluster, claim_replicas=claim_replicas)
    async with running_pipeline(kafka_bootstrap, "", tmp_path, unique, adjust=adjust) as pipeline:
        figures = await run_with_failover(pipeline, redis_cluster, tmp_path, ["redis"])
    assert_safe(figures)


@pytest.mark.timeout(120)
async def test_a_dead_master_fails_only_the_calls_for_its_slots(
    redis_cluster: RedisClusterStack,
) -> None:
    """One batch of claims over every master, sent right after one master died: only the bots
    whose keys it served fail (to be retried), and once its replica took over the same client
    finds it and the claims made before the kill are there."""
    redis_cluster.flushall()
    client = make_client(
        RedisSettings(topology="cluster", nodes=redis_cluster.seeds()), socket_connect_timeout=1
    )
    store = IdempotencyStore(client, lease_s=600.0, scripts=ScriptRunner(client))
    bots = [f"bot-{n}" for n in range(30)]
    victim = redis_cluster.master_of("{bot-0}")
    theirs = {bot for bot in bots if redis_cluster.master_of(f"{{{bot}}}") == victim}
    try:
        for bot in bots:
            assert (await store.claim(bot, "before", "w1:a")).state is ClaimState.ACQUIRED
        redis_cluster.wait_replicated(victim)
        redis_cluster.kill_master(victim)
        answers = await asyncio.gather(
            *(store.claim(bot, "after", "w1:a") for bot in bots), return_exceptions=True
        )
        failed = {
            bot
            for bot, answer in zip(bots, answers, strict=True)
            if isinstance(answer, BaseException)
        }
        assert failed == theirs, answers
        assert all(
            isinstance(a, Claim) and a.state is ClaimState.ACQUIRED
            for a in answers
            if not isinstance(a, BaseException)
        )

        await asyncio.to_thread(redis_cluster.wait_failover, "{bot-0}", victim)
        deadline = time.monotonic() + 15
        for bot in sorted(theirs):
            while True:
                try:
                    assert (await store.claim(bot, "before", "w2:b")).state is ClaimState.BUSY
                    assert (await store.claim(bot, "after", "w1:a")).state is ClaimState.ACQUIRED
                    break
                except RedisUnavailableError:
                    assert time.monotonic() < deadline, f"{bot}'s slot still not served"
                    await asyncio.sleep(0.1)
    finally:
        await client.aclose()
        new = redis_cluster.master_of("{bot-0}")
        await asyncio.to_thread(redis_cluster.restart_node, victim)
        await asyncio.to_thread(wait_for_replica, redis_cluster, new, victim)


@pytest.mark.slow
@pytest.mark.timeout(0)
async def test_soak_worker_and_master_kills(
    kafka_bootstrap: str, redis_cluster: RedisClusterStack, tmp_path: Path
) -> None:
    """Worker kill -9s around a master kill, ``SOAK_RUNS`` times for each ``claim_replicas``
    in ``SOAK_CLAIM_REPLICAS`` (default ``0,1``): a lost claim or result can only turn into a
    second call when Kafka redelivers the request, which a worker kill makes happen."""
    runs = int(os.environ.get("SOAK_RUNS", "10"))
    choices = [int(n) for n in os.environ.get("SOAK_CLAIM_REPLICAS", "0,1").split(",")]
    summary: dict[int, list[Report]] = {}
    for replicas in choices:
        for run in range(runs):
            redis_cluster.flushall()
            run_dir = tmp_path / f"r{replicas}-{run}"
            run_dir.mkdir()
            adjust = on_cluster(redis_cluster, claim_replicas=replicas)
            unique = uuid4().hex[:10]
            async with running_pipeline(
                kafka_bootstrap, "", run_dir, unique, adjust=adjust
            ) as pipeline:
                figures = await run_with_failover(
                    pipeline, redis_cluster, run_dir, ["kill", "redis", "kill"]
                )
            summary.setdefault(replicas, []).append(figures)
            print(f"claim_replicas={replicas} run {run + 1}/{runs}: {figures.line()}")
    for replicas, reports in summary.items():
        print(
            f"\nclaim_replicas={replicas}: {len(reports)} runs; sent twice "
            f"{sum(r.sent_twice for r in reports)}, unanswered "
            f"{sum(r.unanswered for r in reports)}, "
            f"out of order {sum(r.out_of_order_bots for r in reports)}; OUTCOME_UNKNOWN "
            f"{sum(r.unknown for r in reports)}; median bot's longest wait "
            f"{statistics.median(r.median_bot_longest_wait_s for r in reports):.1f} s"
        )
    for reports in summary.values():
        for figures in reports:
            assert figures.unanswered == 0 and figures.out_of_order_bots == 0
    for figures in summary.get(1, []):
        assert_safe(figures)
