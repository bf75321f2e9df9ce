"""Scenarios 1-3 and the measurement they share: warm up, drain a backlog, then paced latency.

Each run gets fresh topics, a fresh consumer group and its own processor process:

1. **warm-up**: one request per bot, waited for: the group is joined, partitions assigned,
   connections open and (for actionstream) every bot's credentials are in the caches;
2. **throughput**: the processor is paused (SIGSTOP: it stays in its group), the backlog is
   published, the processor resumed; events/s = backlog / (last backlog result - resume). The
   publisher's own speed is thus out of the number;
3. **latency**: once the processor has been idle for 1 s (right after a backlog the naive Faust
   agent answers a few hundred ms late for a moment), requests published at a steady rate well
   under capacity (``paced_rate``, at most half of what phase 2 measured), publish → result each
   (``finished_at - created_at``; the ceiling, which decodes nothing, uses the records'
   timestamps).

Peak RSS is the processor's ``VmHWM`` just before it is stopped. Scenarios 3, 4 and 6 also
meter Redis over phase 2 (``benchmarks.redis_usage``): commands per request, and the size of the
idempotency records, rate-limit keys and credentials entries the run left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.ceiling import READY as CEILING_READY
from benchmarks.noop_integration import NOOP_ID, result_of
from benchmarks.procs import FAUST_READY, BenchError, Proc, child_env
from benchmarks.redis_usage import RedisMeter, key_patterns, measured
from benchmarks.workload import (
    Driver,
    bench_settings,
    check_results,
    create_topics,
    delete_topics,
    end_to_end_ms,
    free_port,
    latency_summary,
    unique_id,
    write_credentials,
)
from processors.settings import Settings
from schemas import AvroCodec, IntegrationRequest, utc_now
from support.env import kafka_env, settings_env
from topics.settings import KafkaSettings


@dataclass
class Sizes:
    """How big each scenario is; ``run.py`` fills it from flags and ``BENCH_*`` variables."""

    events: int = 20_000  # backlog of scenarios 2-3
    ceiling_events: int = 100_000  # scenario 1 drains 20k in ~0.2 s: too short to time well
    slow_events: int = 5_000  # backlog of scenario 4
    hot_events: int = 300  # the hot bot's requests in scenario 5
    hot_others: int = 300  # other bots' requests mixed in with them
    broadcast_events: int = 600  # scenario 8: one bot, one message per chat
    noisy_events: int = 5_000  # scenario 9: the noisy bot's backlog (hot_others: the trickle)
    bots: int = 1_000
    other_bots: int = 300  # one request each in scenario 5
    paced_events: int = 600
    paced_rate: float = 200.0
    in_flight: int = 10_000  # scenario 7: requests held in flight at once
    latency_s: float = 0.05  # the fake Telegram's added latency
    partitions: int = 6


@dataclass
class Context:
    kafka: KafkaSettings  # how every client of the run connects (ACTIONSTREAM_KAFKA__*)
    redis_url: str
    workdir: Path
    sizes: Sizes


@dataclass
class Profile:
    """Record the processor with py-spy for ``seconds`` from the moment the backlog is released."""

    seconds: int
    output: Path
    py_spy: str


@dataclass
class RunResult:
    scenario: str
    events: int
    seconds: float
    latency: dict[str, Any]
    rss_peak_kb: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


Maker = Callable[[Driver, str, int], IntegrationRequest]


def noop_request(driver: Driver, bot: str, seq: int) -> IntegrationRequest:
    return driver.build(bot, NOOP_ID, {"chat_id": seq, "text": f"bench message {seq}"})


def bot_tokens(unique: str, count: int, first: int = 0) -> dict[str, str]:
    """Distinct bots, each with its own Telegram-shaped token."""
    return {
        f"bench-{unique}-{n}": f"{7_000_000 + n}:AAbench{unique}{n:06d}abcdefghijklmnop"
        for n in range(first, first + count)
    }


def start_py_spy(profile: Profile, pid: int) -> subprocess.Popen[bytes]:
    profile.output.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        profile.py_spy, "record", "--pid", str(pid), "--duration", str(profile.seconds),
        "--rate", "100", "--function", "--format", "speedscope", "--output", str(profile.output),
    ]  # fmt: skip
    log = profile.output.with_suffix(".log").open("wb")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def find_py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def fresh_topics(settings: Settings) -> AsyncIterator[None]:
    """The run's topics exist inside the block and are deleted after it."""
    await create_topics(settings)
    try:
        yield
    finally:
        await delete_topics(settings)


async def drain_run(
    ctx: Context,
    name: str,
    settings: Settings,
    proc: Proc,
    *,
    bots: Sequence[str],
    backlog: int,
    make: Maker,
    ready_mark: str,
    paced: bool = True,
    profile: Profile | None = None,
    helpers: Sequence[Proc] = (),
    peers: Sequence[Proc] = (),
    redis_bots: str | None = None,
) -> tuple[Driver, RunResult]:
    """Warm-up, paused backlog, paced latency; returns the driver (to read and check results)
    and a RunResult whose ``seconds`` and ``latency`` the scenario fills in from the results.

    ``peers`` are more processors in ``proc``'s group, started, paused and resumed with it; the
    CPU per request is then theirs and ``proc``'s together. With ``redis_bots`` (the prefix of
    the run's bot ids) Redis is metered over the backlog: ``extra["redis"]``."""
    sizes = ctx.sizes
    workers = [proc, *peers]
    watch = [*workers, *helpers]
    meter = RedisMeter(ctx.redis_url, key_patterns(redis_bots)) if redis_bots else None
    redis_usage: dict[str, Any] | None = None
    for worker in workers:
        worker.start(ready_mark=ready_mark)
    try:
        async with Driver(settings) as driver, meter or contextlib.nullcontext():
            seq = itertools.count()
            await driver.publish("warmup", [make(driver, bot, next(seq)) for bot in bots])
            await driver.wait_results(len(bots), timeout_s=120, watch=watch)
            requests = [make(driver, bots[i % len(bots)], next(seq)) for i in range(backlog)]
            for worker in workers:
                worker.pause()
            try:
                paused = time.time()
                await driver.publish("backlog", requests)
                if meter is not None:
                    await meter.start()  # the processors are stopped: nothing is in flight
            finally:
                resumed = time.time()
                cpu = [p.cpu_seconds() for p in watch]
                for worker in workers:
                    worker.resume()
            spy = start_py_spy(profile, proc.pid) if profile else None
            total = len(bots) + backlog
            await driver.wait_results(total, timeout_s=60 + backlog / 50, watch=watch)
            drained = time.time() - resumed
            busy = [
                (p.cpu_seconds() - before) / drained for p, before in zip(watch, cpu, strict=True)
            ]
            if meter is not None:
                # Records are completed before their result is published: all are in Redis.
                redis_usage = await measured(meter, backlog)
            if spy is not None and profile is not None:
                await asyncio.to_thread(spy.wait, profile.seconds + 60)
            rate = min(sizes.paced_rate, 0.5 * backlog / drained)
            if paced and sizes.paced_events:
                settle = await settled(proc)

                def paced_request(i: int) -> IntegrationRequest:
                    return make(driver, bots[(i * 7) % len(bots)], next(seq))

                await driver.paced("paced", paced_request, sizes.paced_events, rate)
                total += sizes.paced_events
                await driver.wait_results(total, timeout_s=120, watch=watch)
            rss = max(worker.peak_rss_kb() for worker in workers)
            for worker in workers:
                worker.stop()
    finally:
        for worker in workers:
            worker.kill()
    run = RunResult(name, backlog, drained, {"rate_per_s": rate if paced else None}, rss)
    run.extra["resumed_at"] = resumed
    if paced and sizes.paced_events:
        run.extra["settle_s"] = round(settle, 2)
    run.extra["publish_paused_s"] = round(resumed - paused, 3)
    # CPU use while draining, in cores (1.0: one core busy the whole time); ~1.0 = CPU-bound.
    run.extra["cpu_cores"] = {p.name: round(b, 2) for p, b in zip(watch, busy, strict=True)}
    # What the processors spent per request of the backlog: their CPU time while draining.
    spent = sum(busy[: len(workers)]) * drained
    run.extra["cpu_us_per_request"] = round(spent / backlog * 1e6, 1)
    if redis_usage is not None:
        run.extra["redis"] = redis_usage
    return driver, run


async def settled(
    proc: Proc, *, idle_cores: float = 0.15, idle_s: float = 1.0, limit_s: float = 10.0
) -> float:
    """Wait until ``proc`` has been nearly idle for ``idle_s``; returns the seconds waited.

    Right after a drain a processor may still be busy (commits, buffers, GC): latency measured
    then is that transient's, not steady state's.
    """
    began = time.monotonic()
    quiet = 0.0
    while quiet < idle_s and time.monotonic() - began < limit_s:
        before = proc.cpu_seconds()
        await asyncio.sleep(0.25)
        busy = (proc.cpu_seconds() - before) / 0.25 >= idle_cores
        quiet = 0.0 if busy else quiet + 0.25
    return time.monotonic() - began


def worker_proc(settings: Settings, workdir: Path, name: str = "worker") -> Proc:
    env = child_env(settings_env(settings))
    return Proc.python_module(name, "processors", ["worker"], workdir=workdir, env=env)


def peer_procs(settings: Settings, workdir: Path, count: int) -> list[Proc]:
    """``count`` more workers in the same group, each with its own id and web port."""
    peers = []
    for n in range(count):
        worker = settings.worker.model_copy(
            update={"id": f"{settings.worker.id}-peer{n}", "web_port": free_port()}
        )
        peer = settings.model_copy(update={"worker": worker})
        peers.append(worker_proc(peer, workdir / f"peer{n}", name=f"worker-peer{n}"))
    return peers


def log_counts(proc: Proc) -> dict[str, int]:
    text = proc.logs()
    return {
        "log_bytes": len(text.encode()),
        "log_warnings": text.count("WARNING"),
        "log_errors": text.count("ERROR"),
    }


def noop_result_size() -> int:
    """The size of the result actionstream publishes for one no-op request."""
    codec = AvroCodec()
    request = IntegrationRequest.new(
        bot_id="bench-0123456789-999", integration_id=NOOP_ID,
        config='{"chat_id":12345,"text":"bench message 12345"}',
    )  # fmt: skip
    now = utc_now()
    envelope = {"response": {"ok": True, "result": {"chat_id": 12345, "ok": True}}}
    result = result_of(
        request, envelope, received_at=now, finished_at=now, worker_id="bench-0123456789"
    )
    return len(codec.encode(result))


def settings_for(
    ctx: Context, kind: str, *, partitions: int | None = None, **kwargs: Any
) -> tuple[str, Settings, Path]:
    unique = unique_id()
    workdir = ctx.workdir.resolve() / f"{kind}-{unique}"
    workdir.mkdir(parents=True)
    settings = bench_settings(
        unique, kafka=ctx.kafka, redis_url=ctx.redis_url, workdir=workdir,
        partitions=partitions or ctx.sizes.partitions, **kwargs,
    )  # fmt: skip
    return unique, settings, workdir


def backlog_end(driver: Driver, finished: dict[uuid.UUID, float]) -> float:
    return max(finished[rid] for rid in driver.of_phase("backlog"))


async def ceiling(ctx: Context, *, n: int) -> RunResult:
    """Scenario 1: bare aiokafka, no decoding; latency from the records' own timestamps."""
    unique, settings, workdir = settings_for(ctx, "ceiling")
    topics = settings.topics
    args = [
        "--requests", topics.requests, "--results", topics.results,
        "--group", settings.kafka.consumer_group, "--result-size", str(noop_result_size()),
    ]  # fmt: skip
    proc = Proc.python_module(
        "ceiling",
        "benchmarks.ceiling",
        args,
        workdir=workdir,
        env=child_env(kafka_env(settings.kafka)),
    )
    bots = list(bot_tokens(unique, ctx.sizes.bots))
    async with fresh_topics(settings):
        driver, run = await drain_run(
            ctx, "ceiling", settings, proc, bots=bots, backlog=n, make=noop_request,
            ready_mark=CEILING_READY,
        )  # fmt: skip
        requests = await driver.read_all(topics.requests)
        results = await driver.read_all(topics.results)
    # Same key, same partitioner, one producer: the k-th result of a partition answers the
    # k-th request of that partition.
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for record in results:
        by_partition[record.partition].append(record)
    finished: dict[uuid.UUID, float] = {}
    latencies: list[float] = []
    position: dict[int, int] = defaultdict(int)
    for request in requests:
        k = position[request.partition]
        position[request.partition] += 1
        answers = by_partition[request.partition]
        if k >= len(answers) or answers[k].key != request.key:
            raise BenchError(f"ceiling: no result for request {request.partition}@{k}")
        rid = driver.codec.decode(IntegrationRequest, request.value).request_id
        finished[rid] = answers[k].timestamp / 1000
        if driver.phase[rid] == "paced":
            latencies.append(float(answers[k].timestamp - request.timestamp))
    if len(results) != len(requests) or len(finished) != len(driver.requests):
        raise BenchError(f"ceiling: {len(results)} results for {len(requests)} requests")
    run.seconds = backlog_end(driver, finished) - run.extra.pop("resumed_at")
    run.latency = latency_summary(latencies, run.latency["rate_per_s"])
    return run


async def _noop_pipeline(
    ctx: Context, name: str, n: int, proc_for: Callable[[Settings, Path], Proc], ready: str,
    *, profile: Profile | None = None, paced: bool = True, meter_redis: bool = False,
) -> RunResult:  # fmt: skip
    unique, settings, workdir = settings_for(ctx, name)
    tokens = bot_tokens(unique, ctx.sizes.bots)
    write_credentials(settings.credentials.file_path, tokens)
    proc = proc_for(settings, workdir)
    async with fresh_topics(settings):
        driver, run = await drain_run(
            ctx, name, settings, proc, bots=list(tokens), backlog=n, make=noop_request,
            ready_mark=ready, profile=profile, paced=paced,
            redis_bots=f"bench-{unique}-" if meter_redis else None,
        )  # fmt: skip
        first = check_results(driver, await driver.results())
    finished = {rid: r.finished_at.timestamp() for rid, r in first.items()}
    run.seconds = backlog_end(driver, finished) - run.extra.pop("resumed_at")
    paced_ms = [end_to_end_ms(driver, first[rid]) for rid in driver.of_phase("paced")]
    run.latency = latency_summary(paced_ms, run.latency["rate_per_s"])
    run.extra.update(log_counts(proc))
    with contextlib.suppress(OSError):
        shutil.rmtree(workdir / f"{settings.kafka.consumer_group}-data")
    return run


def naive_proc(settings: Settings, workdir: Path) -> Proc:
    topics = settings.topics
    env = child_env(
        {
            **kafka_env(settings.kafka),
            "BENCH_GROUP": settings.kafka.consumer_group,
            "BENCH_REQUESTS": topics.requests,
            "BENCH_RESULTS": topics.results,
        }
    )
    return Proc.python_module("naive", "benchmarks.naive_app", [], workdir=workdir, env=env)


async def naive(ctx: Context, *, n: int) -> RunResult:
    """Scenario 2: a plain Faust agent, one event at a time."""
    return await _noop_pipeline(ctx, "naive", n, naive_proc, FAUST_READY)


async def actionstream_noop(ctx: Context, *, n: int, profile: Profile | None = None) -> RunResult:
    """Scenario 3: the real worker, a no-op integration through the whole path."""
    return await _noop_pipeline(
        ctx, "actionstream", n, worker_proc, FAUST_READY, profile=profile, paced=profile is None,
        meter_redis=True,
    )  # fmt: skip


async def in_flight_memory(ctx: Context, *, n: int = 10_000, hold_s: float = 3.0) -> RunResult:
    """Scenario 7: ``n`` bots, one no-op request each held ``hold_s``, ``max_in_flight`` = ``n``.

    Every request is in flight at once (the worker's ``actionstream_in_flight`` gauge is sampled
    to prove it); the figure is the worker's peak RSS, which the issue bounds at 300 MiB.
    """
    unique, settings, workdir = settings_for(ctx, "inflight")
    limits = {"max_in_flight": n, "max_buffered": 2 * n, "max_parked": n}
    settings = settings.model_copy(update={"worker": settings.worker.model_copy(update=limits)})
    tokens = bot_tokens(unique, n)
    write_credentials(settings.credentials.file_path, tokens)
    proc = worker_proc(settings, workdir)
    bots = list(tokens)

    def held(driver: Driver, bot: str, seq: int) -> IntegrationRequest:
        return driver.build(bot, NOOP_ID, {"chat_id": seq, "text": "held", "hold_s": hold_s})

    peak = 0.0
    sampling = True

    async def sample() -> None:
        nonlocal peak
        url = f"http://127.0.0.1:{settings.worker.web_port}/metrics"
        async with aiohttp.ClientSession() as session:
            while sampling:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url) as response:
                        for line in (await response.text()).splitlines():
                            if line.startswith("actionstream_in_flight{"):
                                peak = max(peak, float(line.rsplit(" ", 1)[1]))
                await asyncio.sleep(0.2)

    async with fresh_topics(settings):
        sampler = asyncio.create_task(sample())
        try:
            driver, run = await drain_run(
                ctx, "in_flight", settings, proc, bots=bots, backlog=n, make=held,
                ready_mark=FAUST_READY, paced=False,
            )  # fmt: skip
        finally:
            sampling = False
            await sampler
        first = check_results(driver, await driver.results())
    finished = {rid: r.finished_at.timestamp() for rid, r in first.items()}
    run.seconds = backlog_end(driver, finished) - run.extra.pop("resumed_at")
    run.latency = latency_summary([])
    run.extra.update(hold_s=hold_s, max_in_flight=n, peak_in_flight=int(peak))
    return run
