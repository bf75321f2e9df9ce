"""Run every benchmark against the local stack and print one table (``make bench``).

    make bench                                   # everything, 3 runs each, ~5-8 min on 2 cores
    make bench BENCH_ARGS=--quick                # tiny sizes, 1 run, no profile: a CI smoke test
    make bench BENCH_ARGS="--only actionstream --runs 5 --events 50000"
    PYTHONPATH=.:tests .venv/bin/python tests/benchmarks/run.py --help

Every size is a flag and a ``BENCH_*`` variable (flags win). The JSON report goes to
``bench-results.json``; logs, and the py-spy profile of scenario 3 (py-spy comes with the
``bench`` extra, which ``make bench`` installs), to ``.local/bench/<timestamp>/``. Exit status 1
when a benchmark could not measure what it claims (a result missing, a bot's order broken at the
fake).

Scenarios 3, 4 and 6 also meter Redis (benchmarks/redis_usage.py): commands per request from
``INFO commandstats``, bytes per idempotency record, rate-limit key and credentials cache entry
from ``MEMORY USAGE``; the table "Redis per request" and the JSON's ``redis`` have them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from rich.console import Console

from benchmarks.fairness_scenarios import noisy_tenant
from benchmarks.micro import codec_micro, credentials_micro
from benchmarks.procs import REPO, BenchError
from benchmarks.profiling import summarize
from benchmarks.report import aggregate, ratios, redis_summary, render, write_json
from benchmarks.scenarios import (
    Context,
    Profile,
    RunResult,
    Sizes,
    actionstream_noop,
    ceiling,
    find_py_spy,
    in_flight_memory,
    naive,
)
from benchmarks.telegram_scenarios import broadcast, hot_bot, http_ceiling, slow_provider
from processors.settings import Settings

SCENARIOS: dict[str, Callable[[Context], Awaitable[RunResult]]] = {
    "ceiling": lambda ctx: ceiling(ctx, n=ctx.sizes.ceiling_events),
    "naive": lambda ctx: naive(ctx, n=ctx.sizes.events),
    "actionstream": lambda ctx: actionstream_noop(ctx, n=ctx.sizes.events),
    "http_ceiling": lambda ctx: http_ceiling(ctx, n=ctx.sizes.slow_events),
    "slow_provider": lambda ctx: slow_provider(ctx, n=ctx.sizes.slow_events),
    "hot_bot": hot_bot,
    "broadcast": broadcast,
    "noisy_tenant": noisy_tenant,
    "in_flight": lambda ctx: in_flight_memory(ctx, n=ctx.sizes.in_flight),
    "scale_one": lambda ctx: slow_provider(
        ctx, n=2 * ctx.sizes.slow_events, name="scale_one", workers=1, partitions=12
    ),
    "scale_two": lambda ctx: slow_provider(
        ctx, n=2 * ctx.sizes.slow_events, name="scale_two", workers=2, partitions=12
    ),
}
PROFILED: dict[str, Callable[[Context, int, Profile], Awaitable[RunResult]]] = {
    "actionstream": lambda ctx, n, profile: actionstream_noop(ctx, n=n, profile=profile),
    "slow_provider": lambda ctx, n, profile: slow_provider(ctx, n=n, profile=profile),
}
QUICK = Sizes(
    events=1_000, ceiling_events=2_000, slow_events=400, hot_events=20, hot_others=20,
    broadcast_events=60, noisy_events=200, bots=50, other_bots=20, paced_events=60, in_flight=500,
)  # fmt: skip
KEEP_OUTPUTS = 5  # .local/bench keeps the last few invocations' logs and profiles


def _env(name: str, kind: type = int) -> Any:
    value = os.environ.get(f"BENCH_{name}")
    return None if value in (None, "") else kind(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Sizes default to the full run (or to --quick's); BENCH_<FLAG> sets any flag.",
    )
    quick_env = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")
    p.add_argument("--quick", action="store_true", default=quick_env, help="tiny, 1 run")
    p.add_argument("--runs", type=int, default=_env("RUNS"), help="runs per scenario (3)")
    p.add_argument("--events", type=int, default=_env("EVENTS"), help="scenarios 2-3 (20000)")
    p.add_argument("--ceiling-events", type=int, default=_env("CEILING_EVENTS"), help="(100000)")
    p.add_argument("--slow-events", type=int, default=_env("SLOW_EVENTS"), help="4 (5000)")
    p.add_argument("--hot-events", type=int, default=_env("HOT_EVENTS"), help="5, hot bot (300)")
    p.add_argument("--hot-others", type=int, default=_env("HOT_OTHERS"), help="5, others (300)")
    p.add_argument("--broadcast-events", type=int, default=_env("BROADCAST_EVENTS"), help="8 (600)")
    p.add_argument("--noisy-events", type=int, default=_env("NOISY_EVENTS"), help="9 (5000)")
    p.add_argument("--bots", type=int, default=_env("BOTS"), help="bots in 1-4 (1000)")
    p.add_argument("--other-bots", type=int, default=_env("OTHER_BOTS"), help="in 5 (300)")
    p.add_argument("--paced-events", type=int, default=_env("PACED_EVENTS"), help="(600)")
    p.add_argument("--in-flight", type=int, default=_env("IN_FLIGHT"), help="7 (10000)")
    p.add_argument("--paced-rate", type=float, default=_env("PACED_RATE", float), help="(200)")
    p.add_argument("--latency-s", type=float, default=_env("LATENCY_S", float), help="(0.05)")
    p.add_argument("--partitions", type=int, default=_env("PARTITIONS"), help="(6)")
    p.add_argument(
        "--only", default=os.environ.get("BENCH_ONLY") or ",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )  # fmt: skip
    profile_env = os.environ.get("BENCH_PROFILE", "auto")
    p.add_argument(
        "--profile", choices=["auto", "yes", "no"], default=profile_env,
        help="py-spy the worker on scenario 3 (auto: if py-spy is installed and not --quick)",
    )  # fmt: skip
    p.add_argument("--profile-seconds", type=int, default=_env("PROFILE_SECONDS") or 20)
    p.add_argument(
        "--profile-scenario", choices=sorted(PROFILED), default=os.environ.get(
            "BENCH_PROFILE_SCENARIO") or "actionstream", help="the scenario py-spy records (3)",
    )  # fmt: skip
    p.add_argument("--output", type=Path, default=Path(os.environ.get("BENCH_OUTPUT", "")
                   or REPO / "bench-results.json"))  # fmt: skip
    return p.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    overrides = {
        field: getattr(args, field)
        for field in Sizes.__dataclass_fields__
        if getattr(args, field, None) is not None
    }
    return Sizes(**{**base.__dict__, **overrides})


def machine(redis_version: str) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
    kafka = "unknown"
    stack = REPO / "deploy" / "local" / "stack.sh"
    done = subprocess.run(
        ["bash", str(stack), "status"], capture_output=True, text=True, timeout=30, check=False
    )
    if "Apache Kafka" in done.stdout:
        kafka = done.stdout.split("Apache Kafka", 1)[1].split(")")[0].strip()
    versions = {}
    for package in ("faust-streaming", "aiokafka", "fastavro", "redis", "python-telegram-bot"):
        versions[package] = importlib.metadata.version(package)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kafka": kafka,
        "redis_server": redis_version,
        "packages": versions,
        "loadavg_start": os.getloadavg(),
    }


async def redis_version(url: str) -> str:
    client = Redis.from_url(url)
    try:
        return str((await client.info("server"))["redis_version"])
    finally:
        await client.aclose()


def prune(root: Path, keep: int) -> None:
    outputs = sorted(p for p in root.glob("20*") if p.is_dir())
    for old in outputs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for data in root.rglob("*-data"):
        if data.is_dir():
            shutil.rmtree(data, ignore_errors=True)


async def bench(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    sizes = sizes_from(args)
    runs = args.runs or (1 if args.quick else 3)
    selected = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(selected) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    kafka = Settings().kafka  # ACTIONSTREAM_KAFKA__*: a secured cluster is benchmarked as is
    redis_url = os.environ.get("ACTIONSTREAM_REDIS__URL", "redis://127.0.0.1:6379/0")
    root = REPO / ".local" / "bench"
    workdir = root / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True)
    ctx = Context(kafka, redis_url, workdir, sizes)
    started = time.time()
    meta: dict[str, Any] = {"machine": machine(await redis_version(redis_url)), "runs": runs,
            "sizes": sizes.__dict__, "workdir": str(workdir)}  # fmt: skip
    console.print(f"[bold]benchmarks[/] → {workdir}  sizes {sizes.__dict__}, {runs} run(s)")
    number = 2_000 if args.quick else 20_000
    micro = {
        "codec": codec_micro(number=number),
        "credentials": await credentials_micro(
            redis_url, number=number, redis_number=max(200, number // 10)
        ),
    }
    results: list[RunResult] = []
    for rep in range(runs):
        for name in selected:
            began = time.monotonic()
            run = await SCENARIOS[name](ctx)
            results.append(run)
            console.print(
                f"  run {rep + 1}/{runs} {name:<14} {run.events:>6,} events "
                f"{run.events_per_s:>9,.1f}/s  p50 {_ms(run.latency.get('p50_ms'))}  "
                f"p99 {_ms(run.latency.get('p99_ms'))}  ({time.monotonic() - began:.0f}s)"
            )
    profile = await maybe_profile(args, ctx, results, selected, console)
    scenarios = aggregate(results)
    meta["duration_s"] = round(time.time() - started, 1)
    meta["machine"]["loadavg_end"] = os.getloadavg()
    prune(root, KEEP_OUTPUTS)
    return {"meta": meta, "scenarios": scenarios, "ratios": ratios(scenarios),
            "redis": redis_summary(scenarios), "micro": micro, "profile": profile}  # fmt: skip


def _ms(value: float | None) -> str:
    """``12 ms``, or ``-`` for a run that measured no latency (an unpaced drain)."""
    return "-" if value is None or math.isnan(value) else f"{value:.0f} ms"


async def maybe_profile(
    args: argparse.Namespace,
    ctx: Context,
    results: list[RunResult],
    selected: list[str],
    console: Console,
) -> dict[str, Any] | None:
    wanted = args.profile == "yes" or (args.profile == "auto" and not args.quick)
    name = args.profile_scenario
    if not wanted or name not in selected:
        return None
    py_spy = find_py_spy()
    if py_spy is None:
        if args.profile == "yes":
            raise BenchError("--profile yes: py-spy not found (pip install -e .[bench])")
        console.print("[yellow]no py-spy: skipping the profile (pip install -e .[bench])[/]")
        return None
    rates = [r.events_per_s for r in results if r.scenario == name]
    # Enough backlog to keep the worker busy past the end of the recording.
    n = int((statistics.median(rates) if rates else 2_000) * (args.profile_seconds + 8))
    output = ctx.workdir / f"profile-{name}.speedscope.json"
    console.print(f"  profiling {name} with py-spy: {n:,} events, {args.profile_seconds}s")
    await PROFILED[name](ctx, n, Profile(args.profile_seconds, output, py_spy))
    summary = summarize(output, top=15, repo=REPO)
    return {
        "scenario": name, "path": str(output), "events": n, "seconds": args.profile_seconds,
        **summary,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=200 if not sys.stdout.isatty() else None)
    try:
        report = asyncio.run(bench(args, console))
    except BenchError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}")
        return 1
    write_json(report, args.output)
    render(report, console)
    console.print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
