"""What ``ACTIONSTREAM_REDIS__CLAIM_REPLICAS`` costs: idempotency claims on a real Redis Cluster.

Starts a private cluster (3 masters, 3 replicas, ``stack.sh cluster``), then, for each
``claim_replicas`` value, runs ``--claims`` claims from ``--concurrency`` tasks through the
worker's own client and :class:`ScriptRunner` (the same batching as the processor) and prints
claims/s, the claim's p50/p99 latency and this process's CPU µs per claim: medians of
``--runs`` runs. Usage::

    make bench-claims BENCH_ARGS="--runs 5"
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from processors.idempotency import IdempotencyStore
from processors.redis_scripts import ScriptRunner
from processors.runtime import _redis
from processors.settings import RedisSettings, Settings
from support.redis_cluster import RedisClusterStack, free_port_block


@dataclass(frozen=True)
class Figures:
    claims_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


async def measure(seeds: str, replicas: int, claims: int, concurrency: int) -> Figures:
    redis = RedisSettings(topology="cluster", nodes=seeds, claim_replicas=replicas)
    client = _redis(Settings(redis=redis))
    scripts = ScriptRunner(
        client, replicas=replicas, replicas_timeout_ms=redis.claim_replicas_timeout_ms
    )
    store = IdempotencyStore(client, lease_s=60.0, scripts=scripts)
    latencies: list[float] = []
    run = time.monotonic_ns()

    async def claimer(lane: int) -> None:
        for n in range(lane, claims, concurrency):
            started = time.perf_counter()
            await store.claim(f"bot-{n % 1000}", f"{run}-{n}", "bench:w")
            latencies.append(time.perf_counter() - started)

    try:
        await store.claim("bot-warm", f"{run}-warm", "bench:w")  # slot map, scripts loaded
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(claimer(lane) for lane in range(concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await client.aclose()
    quantiles = statistics.quantiles(latencies, n=100)
    return Figures(claims / wall, quantiles[49] * 1e3, quantiles[98] * 1e3, cpu / claims * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replicas", default="0,1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="claim-wait-") as state:
        stack = RedisClusterStack(Path(state), free_port_block())
        stack.up()
        try:
            print(f"{args.claims} claims, {args.concurrency} at once, median of {args.runs} runs")
            print("claim_replicas | claims/s | p50 ms | p99 ms | CPU µs/claim")
            for replicas in (int(r) for r in args.replicas.split(",")):
                runs = [
                    asyncio.run(measure(stack.seeds(), replicas, args.claims, args.concurrency))
                    for _ in range(args.runs)
                ]

                def median(field: str, runs: list[Figures] = runs) -> float:
                    return float(statistics.median(getattr(r, field) for r in runs))

                print(
                    f"{replicas} | {median('claims_per_s'):,.0f} | {median('p50_ms'):.2f} | "
                    f"{median('p99_ms'):.2f} | {median('cpu_us'):.0f}"
                )
        finally:
            stack.down()


if __name__ == "__main__":
    main()
