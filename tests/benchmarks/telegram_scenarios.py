"""Scenarios 4 and 5: the real Telegram integration against the fake Bot API with latency.

The fake runs in its own process (``benchmarks.fake_telegram_proc``) and dumps every call it
received when stopped; per-bot order is checked there, at the provider, where it matters: each
bot's messages must have arrived exactly once and in publish order. Every bot has its own token
and every message its own chat, so Telegram's per-chat limit (1/s) never binds.

4. **slow provider**: many bots; throughput against the ideal ``max_in_flight / latency``, and
   against ``http_ceiling``: a bare aiohttp client loop (``benchmarks.http_ceiling``) sending the
   same calls with the same concurrency to the same fake, in the same run.
6. **scale-out**: scenario 4's shape on 12 partitions, drained by one worker (6a) and by two in
   one group (6b), in the same run: the ratio 6b/6a is what a second worker adds.
5. **one hot bot**: one bot's requests must run one at a time (≈ ``1 / latency``), while other
   bots' requests mixed in with them must still flow (their latency is reported).
8. **broadcast**: one bot sends ``broadcast_events`` messages, each to a chat of its own, with
   ``ordering_key=str(chat_id)``: the chats run concurrently, so the bot's own rate limit
   (Telegram's 30 messages/s per token), not ``1 / latency``, sets its pace. Order is checked per
   chat at the fake.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.fake_telegram_proc import READY as FAKE_READY
from benchmarks.http_ceiling import RESULT as HTTP_CEILING_RESULT
from benchmarks.procs import FAUST_READY, REPO, BenchError, Proc, child_env
from benchmarks.scenarios import (
    Context,
    Profile,
    RunResult,
    bot_tokens,
    drain_run,
    fresh_topics,
    log_counts,
    peer_procs,
    settings_for,
    worker_proc,
)
from benchmarks.workload import (
    Driver,
    check_results,
    end_to_end_ms,
    latency_summary,
    unique_id,
    write_credentials,
)
from integrations.telegram.client import TELEGRAM_RATE_LIMITS
from schemas import IntegrationRequest

SEND = "telegram_send_message"
CHAT_BASE = 1_000_000  # private chats: a new one per message


def telegram_request(driver: Driver, bot: str, seq: int) -> IntegrationRequest:
    return driver.build(bot, SEND, {"chat_id": CHAT_BASE + seq, "text": f"bench {seq}"})


def start_fake(ctx: Context) -> tuple[Proc, Path, tuple[str, str]]:
    """The fake in its own process; returns it, its dump file and (base_url, base_file_url)."""
    workdir = ctx.workdir.resolve() / f"fake-telegram-{unique_id()}"
    dump = workdir / "calls.jsonl"
    args = ["--latency-s", str(ctx.sizes.latency_s), "--dump", str(dump)]
    proc = Proc.python_module(
        "fake-telegram", "benchmarks.fake_telegram_proc", args, workdir=workdir, env=child_env()
    )
    proc.start(ready_mark=FAKE_READY, timeout_s=30)
    line = next(x for x in proc.logs().splitlines() if x.startswith(FAKE_READY))
    base_url, base_file_url = line.split()[-2:]
    return proc, dump, (base_url, base_file_url)


def check_order(driver: Driver, tokens: dict[str, str], dump: Path) -> dict[str, int]:
    """Each bot's messages reached the fake exactly once, in publish order; else BenchError."""
    want: dict[str, list[str]] = defaultdict(list)
    for request in driver.order:
        want[tokens[request.bot_id]].append(json.loads(request.config)["text"])
    got: dict[str, list[str]] = defaultdict(list)
    calls = [json.loads(line) for line in dump.read_text().splitlines()]
    for call in calls:
        if call["method"] == "sendMessage" and call["delivered"]:
            got[call["token"]].append(call["text"])
    broken = [token for token, texts in want.items() if got.get(token) != texts]
    strangers = set(got) - set(want)
    if broken or strangers:
        token = broken[0] if broken else next(iter(strangers))
        raise BenchError(
            f"per-bot order broken at the fake for {len(broken)} of {len(want)} bots "
            f"({len(strangers)} unknown tokens); e.g. published {want.get(token, [])[:8]} "
            f"but received {got.get(token, [])[:8]}"
        )
    return {"bots": len(want), "messages": sum(map(len, want.values())), "calls": len(calls)}


async def slow_provider(
    ctx: Context,
    *,
    n: int,
    profile: Profile | None = None,
    name: str = "slow_provider",
    workers: int = 1,
    partitions: int | None = None,
) -> RunResult:
    """Scenario 4: many bots, 50 ms per call; compare with max_in_flight / latency.

    With ``workers`` > 1 (scenario 6) that many workers share the group and the backlog."""
    fake, dump, urls = start_fake(ctx)
    try:
        unique, settings, workdir = settings_for(ctx, name, telegram=urls, partitions=partitions)
        tokens = bot_tokens(unique, ctx.sizes.bots)
        write_credentials(settings.credentials.file_path, tokens)
        proc = worker_proc(settings, workdir)
        peers = peer_procs(settings, workdir, workers - 1)
        async with fresh_topics(settings):
            driver, run = await drain_run(
                ctx, name, settings, proc, bots=list(tokens), backlog=n,
                make=telegram_request, ready_mark=FAUST_READY, helpers=[fake], profile=profile,
                paced=profile is None and workers == 1, peers=peers,
                redis_bots=f"bench-{unique}-",
            )  # fmt: skip
            first = check_results(driver, await driver.results())
    finally:
        fake.stop()
    finished = [first[rid].finished_at.timestamp() for rid in driver.of_phase("backlog")]
    run.seconds = max(finished) - run.extra.pop("resumed_at")
    paced_ms = [end_to_end_ms(driver, first[rid]) for rid in driver.of_phase("paced")]
    run.latency = latency_summary(paced_ms, run.latency["rate_per_s"])
    max_in_flight = settings.worker.max_in_flight
    run.extra.update(
        ideal_per_s=workers * max_in_flight / ctx.sizes.latency_s,
        max_in_flight=max_in_flight,
        workers=workers,
        partitions=settings.topics.partitions,
        provider_latency_s=ctx.sizes.latency_s,
        order=check_order(driver, tokens, dump),
        **log_counts(proc),
    )
    return run


async def http_ceiling(ctx: Context, *, n: int, in_flight: int = 256) -> RunResult:
    """Scenario 4's ceiling: the same calls from a bare aiohttp loop, no pipeline around them."""
    fake, _dump, (base_url, _) = start_fake(ctx)
    argv = [
        sys.executable, "-m", "benchmarks.http_ceiling", "--base-url", base_url,
        "--requests", str(n), "--in-flight", str(in_flight), "--bots", str(ctx.sizes.bots),
    ]  # fmt: skip
    try:
        done = await asyncio.to_thread(
            subprocess.run, argv, cwd=REPO, env=child_env(), capture_output=True, text=True,
            timeout=120 + n / 100, check=False,
        )  # fmt: skip
    finally:
        fake.stop()
    line = next((x for x in done.stdout.splitlines() if x.startswith(HTTP_CEILING_RESULT)), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"http_ceiling failed ({done.returncode}): {done.stderr[-2000:]}")
    requests, seconds, cpu, p50, p99 = line.split()[1:]
    extra = {
        "in_flight": in_flight,
        "provider_latency_s": ctx.sizes.latency_s,
        "cpu_us_per_request": round(float(cpu) / int(requests) * 1e6, 1),
    }
    # Latency here is each call's under full load (a drain), not a paced one's.
    latency = {"p50_ms": float(p50), "p99_ms": float(p99), "rate_per_s": None}
    return RunResult("http_ceiling", int(requests), float(seconds), latency, None, extra)


async def hot_bot(ctx: Context) -> RunResult:
    """Scenario 5: one bot's backlog runs serially; other bots' requests keep flowing.

    The hot bot's backlog is published at once; meanwhile the other bots' requests (one per
    bot by default) are published at a steady rate spread over the time the backlog should take,
    so their latency shows whether they wait behind it (they must not).
    """
    sizes = ctx.sizes
    fake, dump, urls = start_fake(ctx)
    try:
        unique, settings, workdir = settings_for(ctx, "hot", telegram=urls)
        tokens = bot_tokens(unique, 1 + sizes.other_bots)
        hot, *others = list(tokens)
        write_credentials(settings.credentials.file_path, tokens)
        proc = worker_proc(settings, workdir)
        async with fresh_topics(settings):
            driver, t0, rss = await _hot_backlog(ctx, settings, proc, fake, hot, others)
            first = check_results(driver, await driver.results())
    finally:
        fake.stop()
    hot_ids, other_ids = driver.of_phase("hot"), driver.of_phase("others")
    hot_done = max(first[rid].finished_at.timestamp() for rid in hot_ids)
    extra: dict[str, Any] = {
        "ideal_per_s": 1 / sizes.latency_s,
        "provider_latency_s": sizes.latency_s,
        "hot_done_after_s": round(hot_done - t0, 3),
        "hot_latency": latency_summary([end_to_end_ms(driver, first[r]) for r in hot_ids]),
        "other_bots": len(others),
        # Other bots' requests answered while the hot bot still had a backlog.
        "others_during_backlog": sum(
            first[rid].finished_at.timestamp() < hot_done for rid in other_ids
        ),
        "order": check_order(driver, tokens, dump),
        **log_counts(proc),
    }
    others_ms = [end_to_end_ms(driver, first[rid]) for rid in other_ids]
    # The table's latency for this scenario is the other bots' (the starvation check); the hot
    # bot's own latency grows with its queue by design and is in extra["hot_latency"].
    rate = len(other_ids) / (len(hot_ids) * sizes.latency_s) if other_ids else None
    return RunResult(
        "hot_bot", len(hot_ids), hot_done - t0, latency_summary(others_ms, rate), rss, extra
    )


async def broadcast(ctx: Context) -> RunResult:
    """Scenario 8: one bot, one message per chat, each chat its own ordering key."""
    sizes = ctx.sizes
    limit = next(r.limit / r.period_s for r in TELEGRAM_RATE_LIMITS if r.target_field is None)
    fake, dump, urls = start_fake(ctx)
    try:
        unique, settings, workdir = settings_for(ctx, "broadcast", telegram=urls)
        tokens = bot_tokens(unique, 1)
        (bot,) = tokens
        write_credentials(settings.credentials.file_path, tokens)
        proc = worker_proc(settings, workdir)
        async with fresh_topics(settings):
            proc.start(ready_mark=FAUST_READY)
            try:
                async with Driver(settings) as driver:
                    # A warm-up past the bucket's burst, so the timed part runs at the steady rate.
                    warm = [keyed_request(driver, bot, n) for n in range(int(limit))]
                    await driver.publish("warmup", warm)
                    await driver.wait_results(len(warm), timeout_s=120, watch=[proc, fake])
                    backlog = [
                        keyed_request(driver, bot, len(warm) + n)
                        for n in range(sizes.broadcast_events)
                    ]
                    t0 = time.time()
                    await driver.publish("broadcast", backlog)
                    timeout = 120 + sizes.broadcast_events / limit * 5
                    await driver.wait_results(
                        len(warm) + len(backlog), timeout_s=timeout, watch=[proc, fake]
                    )
                    rss = proc.peak_rss_kb()
                    proc.stop()
            finally:
                proc.kill()
            first = check_results(driver, await driver.results())
    finally:
        fake.stop()
    ids = driver.of_phase("broadcast")
    done = max(first[rid].finished_at.timestamp() for rid in ids)
    extra: dict[str, Any] = {
        "ideal_per_s": limit,
        "one_order_per_s": 1 / sizes.latency_s,
        "provider_latency_s": sizes.latency_s,
        "order": check_chat_order(driver, dump),
        **log_counts(proc),
    }
    latency = latency_summary([end_to_end_ms(driver, first[rid]) for rid in ids])
    return RunResult("broadcast", len(ids), done - t0, latency, rss, extra)


def keyed_request(driver: Driver, bot: str, seq: int) -> IntegrationRequest:
    chat = CHAT_BASE + seq
    config = {"chat_id": chat, "text": f"bench {seq}"}
    return driver.build(bot, SEND, config, ordering_key=str(chat))


def check_chat_order(driver: Driver, dump: Path) -> dict[str, int]:
    """Each chat's messages reached the fake exactly once, in publish order; else BenchError."""
    want: dict[int, list[str]] = defaultdict(list)
    for request in driver.order:
        config = json.loads(request.config)
        want[config["chat_id"]].append(config["text"])
    got: dict[int, list[str]] = defaultdict(list)
    for line in dump.read_text().splitlines():
        call = json.loads(line)
        if call["method"] == "sendMessage" and call["delivered"]:
            got[int(call["chat_id"])].append(call["text"])
    broken = [chat for chat, texts in want.items() if got.get(chat) != texts]
    if broken or set(got) - set(want):
        raise BenchError(f"per-chat order broken at the fake for {len(broken)} chats")
    return {"chats": len(want), "messages": sum(map(len, want.values()))}


async def _hot_backlog(
    ctx: Context, settings: Any, proc: Proc, fake: Proc, hot: str, others: list[str]
) -> tuple[Driver, float, int]:
    sizes = ctx.sizes
    watch = [proc, fake]
    proc.start(ready_mark=FAUST_READY)
    try:
        async with Driver(settings) as driver:
            seq = itertools.count()
            bots = [hot, *others]
            await driver.publish("warmup", [telegram_request(driver, b, next(seq)) for b in bots])
            await driver.wait_results(len(bots), timeout_s=120, watch=watch)
            backlog = [telegram_request(driver, hot, next(seq)) for _ in range(sizes.hot_events)]
            t0 = time.time()
            await driver.publish("hot", backlog)
            if others and sizes.hot_others:
                # Spread over the backlog's ideal duration (hot_events x latency).
                rate = sizes.hot_others / (sizes.hot_events * sizes.latency_s)

                def other(i: int) -> IntegrationRequest:
                    return telegram_request(driver, others[i % len(others)], next(seq))

                await driver.paced("others", other, sizes.hot_others, rate)
            total = len(bots) + sizes.hot_events + (sizes.hot_others if others else 0)
            timeout = 120 + sizes.hot_events * sizes.latency_s * 5
            await driver.wait_results(total, timeout_s=timeout, watch=watch)
            rss = proc.peak_rss_kb()
            proc.stop()
    finally:
        proc.kill()
    return driver, t0, rss
