"""Scenario 9: a noisy tenant beside a trickle of other bots.

One worker, no-op actions held ``FAIR_HOLD_S`` each. First a trickle of requests from
``other_bots`` bots runs alone at a steady rate; then one noisy bot publishes ``noisy_events``
requests at once, each with its own ordering key, and the same trickle runs again beside it.
Reported: the trickle's p95 latency with the noisy bot over its p95 alone (fairness: the issue
asks for at most 1.2), and the noisy bot's rate over what its cap allows
(``max_in_flight_per_bot / hold``).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from benchmarks.noop_integration import NOOP_ID
from benchmarks.procs import FAUST_READY
from benchmarks.scenarios import (
    Context,
    RunResult,
    bot_tokens,
    fresh_topics,
    log_counts,
    settings_for,
    worker_proc,
)
from benchmarks.workload import (
    Driver,
    check_results,
    end_to_end_ms,
    latency_summary,
    percentile,
    write_credentials,
)
from schemas import IntegrationRequest

FAIR_HOLD_S = 0.05  # each action's own time, like a provider's latency
TRICKLE_RATE = 40.0  # the other bots' requests per second, in both phases


def held(driver: Driver, bot: str, seq: int, *, keyed: bool = False) -> IntegrationRequest:
    config = {"chat_id": seq, "text": "fair", "hold_s": FAIR_HOLD_S}
    return driver.build(bot, NOOP_ID, config, ordering_key=str(seq) if keyed else None)


async def noisy_tenant(ctx: Context) -> RunResult:
    sizes = ctx.sizes
    unique, settings, workdir = settings_for(ctx, "noisy")
    tokens = bot_tokens(unique, 1 + sizes.other_bots)
    noisy, *others = list(tokens)
    write_credentials(settings.credentials.file_path, tokens)
    proc = worker_proc(settings, workdir)
    seq = itertools.count()

    def trickle(driver: Driver) -> Any:
        def make(i: int) -> IntegrationRequest:
            return held(driver, others[i % len(others)], next(seq))

        return make

    async with fresh_topics(settings):
        proc.start(ready_mark=FAUST_READY)
        try:
            async with Driver(settings) as driver:
                bots = [noisy, *others]
                await driver.publish("warmup", [held(driver, b, next(seq)) for b in bots])
                await driver.wait_results(len(bots), timeout_s=120, watch=[proc])
                count = sizes.hot_others
                await driver.paced("alone", trickle(driver), count, TRICKLE_RATE)
                await driver.wait_results(len(bots) + count, timeout_s=120, watch=[proc])
                backlog = [
                    held(driver, noisy, next(seq), keyed=True) for _ in range(sizes.noisy_events)
                ]
                t0 = time.time()
                await driver.publish("noisy", backlog)
                await driver.paced("beside", trickle(driver), count, TRICKLE_RATE)
                total = len(bots) + 2 * count + len(backlog)
                await driver.wait_results(total, timeout_s=300, watch=[proc])
                rss = proc.peak_rss_kb()
                proc.stop()
        finally:
            proc.kill()
        first = check_results(driver, await driver.results())

    def latencies(phase: str) -> list[float]:
        return [end_to_end_ms(driver, first[rid]) for rid in driver.of_phase(phase)]

    alone, beside = latencies("alone"), latencies("beside")
    noisy_ids = driver.of_phase("noisy")
    noisy_done = max(first[rid].finished_at.timestamp() for rid in noisy_ids)
    cap = settings.worker.max_in_flight_per_bot
    extra: dict[str, Any] = {
        "trickle_p95_alone_ms": percentile(alone, 95),
        "trickle_p95_beside_ms": percentile(beside, 95),
        "noisy_per_s": len(noisy_ids) / (noisy_done - t0),
        "noisy_cap_per_s": cap / FAIR_HOLD_S,
        "max_in_flight_per_bot": cap,
        **log_counts(proc),
    }
    summary = latency_summary(beside, TRICKLE_RATE)
    return RunResult("noisy_tenant", len(noisy_ids), noisy_done - t0, summary, rss, extra)
