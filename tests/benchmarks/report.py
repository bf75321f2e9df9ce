"""Medians over runs, the ratios the issue asks for, one rich table and the JSON file."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.scenarios import RunResult

TITLES = {
    "ceiling": "1. ceiling: bare aiokafka loop",
    "naive": "2. naive Faust agent",
    "actionstream": "3. actionstream, no-op action",
    "http_ceiling": "4a. ceiling: bare aiohttp client, Telegram +latency",
    "slow_provider": "4. actionstream, Telegram +latency",
    "hot_bot": "5. one hot bot (+ other bots)",
    "scale_one": "6a. as 4, 12 partitions, 1 worker",
    "scale_two": "6b. as 4, 12 partitions, 2 workers",
    "in_flight": "7. no-op requests all in flight at once (peak RSS)",
    "broadcast": "8. one bot, a chat per message, ordering_key=chat",
    "noisy_tenant": "9. a noisy bot's 5,000 keyed actions beside a trickle of 300 bots",
}


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return float(statistics.median(present)) if present else None


def aggregate(runs: Sequence[RunResult]) -> dict[str, Any]:
    """Per scenario: every run, and the medians of throughput, latency and peak RSS."""
    out: dict[str, Any] = {}
    for name, title in TITLES.items():
        mine = [r for r in runs if r.scenario == name]
        if not mine:
            continue
        rates = [r.events_per_s for r in mine]
        out[name] = {
            "title": title,
            "median": {
                "events_per_s": _median(rates),
                "min_events_per_s": min(rates),
                "max_events_per_s": max(rates),
                "latency_p50_ms": _median([r.latency.get("p50_ms") for r in mine]),
                "latency_p99_ms": _median([r.latency.get("p99_ms") for r in mine]),
                "cpu_us_per_request": _median([r.extra.get("cpu_us_per_request") for r in mine]),
                "rss_peak_mib": _median(
                    [r.rss_peak_kb / 1024 for r in mine if r.rss_peak_kb is not None]
                ),
                "redis_commands_per_request": _median(
                    [r.extra["redis"]["commands_per_request"] for r in mine if "redis" in r.extra]
                ),
            },
            "runs": [{**asdict(r), "events_per_s": r.events_per_s} for r in mine],
        }
    return out


KEY_KINDS = {
    "idempotency": "idempotency record",
    "ratelimit_credential": "rate-limit key, per credential",
    "ratelimit_target": "rate-limit key, per target (chat)",
    "credentials": "credentials cache entry",
    "credentials_index": "credentials cache index (per bot and provider)",
}


def redis_summary(scenarios: dict[str, Any]) -> dict[str, Any]:
    """Per metered scenario, medians over its runs: Redis commands per request (all, and per
    command) and bytes per key of each kind (``MEMORY USAGE``); see benchmarks.redis_usage."""
    out: dict[str, Any] = {}
    for name, scenario in scenarios.items():
        usages = [r["extra"]["redis"] for r in scenario["runs"] if "redis" in r["extra"]]
        if not usages:
            continue
        commands = sorted({c for u in usages for c in u["by_command_per_request"]})
        by_command = {
            c: _median([u["by_command_per_request"].get(c, 0.0) for u in usages]) for c in commands
        }
        keys: dict[str, Any] = {}
        for kind in KEY_KINDS:
            found = [u["keys"][kind] for u in usages if u["keys"].get(kind)]
            keys[kind] = (
                {
                    "sampled_keys": sum(k["keys"] for k in found),
                    "median_bytes": _median([k["median_bytes"] for k in found]),
                    "p95_bytes": _median([k["p95_bytes"] for k in found]),
                    "result_median_bytes": _median([k.get("result_median_bytes") for k in found]),
                    "encodings": found[0]["encodings"],
                }
                if found
                else None
            )
        out[name] = {
            "title": scenario["title"],
            "requests": usages[0]["requests"],
            "commands_per_request": _median([u["commands_per_request"] for u in usages]),
            "by_command_per_request": dict(
                sorted(by_command.items(), key=lambda kv: -(kv[1] or 0.0))
            ),
            "used_memory_per_request_bytes": _median(
                [u["used_memory_per_request_bytes"] for u in usages]
            ),
            "used_memory_dataset_per_request_bytes": _median(
                [u.get("used_memory_dataset_per_request_bytes") for u in usages]
            ),
            "keys": keys,
            "key_tables": usages[-1].get("key_tables"),
        }
    return out


def ratios(scenarios: dict[str, Any]) -> dict[str, float | None]:
    def rate(name: str) -> float | None:
        return float(scenarios[name]["median"]["events_per_s"]) if name in scenarios else None

    def ideal(name: str) -> float | None:
        if name not in scenarios:
            return None
        return float(scenarios[name]["runs"][0]["extra"]["ideal_per_s"])

    def over(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    return {
        "actionstream_over_ceiling": over(rate("actionstream"), rate("ceiling")),
        "actionstream_over_naive": over(rate("actionstream"), rate("naive")),
        "slow_provider_over_ideal": over(rate("slow_provider"), ideal("slow_provider")),
        "slow_provider_over_http_ceiling": over(rate("slow_provider"), rate("http_ceiling")),
        "hot_bot_over_ideal": over(rate("hot_bot"), ideal("hot_bot")),
        "broadcast_over_rate_limit": over(rate("broadcast"), ideal("broadcast")),
        "trickle_p95_beside_over_alone": _extra_ratio(
            scenarios, "noisy_tenant", "trickle_p95_beside_ms", "trickle_p95_alone_ms"
        ),
        "two_workers_over_one": over(rate("scale_two"), rate("scale_one")),
    }


def _extra_ratio(
    scenarios: dict[str, Any], name: str, numerator: str, denominator: str
) -> float | None:
    """The median over runs of ``extra[numerator] / extra[denominator]``."""
    if name not in scenarios:
        return None
    runs = [r["extra"] for r in scenarios[name]["runs"]]
    return _median([e[numerator] / e[denominator] for e in runs if e.get(denominator)])


def _notes(name: str, scenario: dict[str, Any]) -> str:
    first = scenario["runs"][0]
    extra, latency = first["extra"], first["latency"]
    cores = extra.get("cpu_cores", {})
    busy = ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
    notes = []
    if latency.get("rate_per_s"):
        notes.append(f"latency at {latency['rate_per_s']:.0f}/s")
    if name in ("slow_provider", "hot_bot", "scale_one", "scale_two"):
        notes.append(f"ideal {extra['ideal_per_s']:,.0f}/s")
        notes.append(f"order ok: {extra['order']['bots']} bots")
    if name == "broadcast":
        notes.append(
            f"bot's rate limit {extra['ideal_per_s']:,.0f}/s (one order per bot would give "
            f"{extra['one_order_per_s']:,.0f}/s); order ok: {extra['order']['chats']} chats"
        )
    if name == "noisy_tenant":
        notes.append(
            f"latency = the trickle's beside the noisy bot; its p95 "
            f"{extra['trickle_p95_beside_ms']:,.0f} ms against {extra['trickle_p95_alone_ms']:,.0f}"
            f" ms alone; noisy bot {extra['noisy_per_s']:,.0f}/s, its cap allows "
            f"{extra['noisy_cap_per_s']:,.0f}/s ({extra['max_in_flight_per_bot']} at once)"
        )
    if name == "in_flight":
        notes.append(f"peak in flight {extra['peak_in_flight']:,} of {extra['max_in_flight']:,}")
    if name == "hot_bot":
        hot = extra["hot_latency"]
        notes.append(
            f"p50/p99 = other bots' requests, paced alongside; {extra['others_during_backlog']} "
            f"answered during the hot backlog ({extra['hot_done_after_s']:.1f}s); hot bot's own "
            f"p50 {hot['p50_ms']:,.0f} ms (queued by design)"
        )
    if (cpu_us := scenario["median"]["cpu_us_per_request"]) is not None:
        notes.append(f"CPU {cpu_us:,.0f} µs/request")
    if busy:
        notes.append(f"CPU cores (run 1): {busy}")
    return "; ".join(notes)


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(report: dict[str, Any], console: Console) -> None:
    scenarios = report["scenarios"]
    meta = report["meta"]
    machine = meta["machine"]
    table = Table(
        title=f"actionstream benchmarks: {machine['nproc']} cores, {machine['cpu']}, "
        f"Python {machine['python']}, Kafka {machine['kafka']}, "
        f"median of {meta['runs']} run(s)",
        title_justify="left",
    )
    for column in ("scenario", "events", "events/s", "min-max", "p50 ms", "p99 ms", "RSS MiB"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("notes", overflow="fold")
    for name, scenario in scenarios.items():
        m = scenario["median"]
        table.add_row(
            scenario["title"],
            f"{scenario['runs'][0]['events']:,}",
            _num(m["events_per_s"]),
            f"{m['min_events_per_s']:,.0f}-{m['max_events_per_s']:,.0f}",
            _num(m["latency_p50_ms"]),
            _num(m["latency_p99_ms"]),
            _num(m["rss_peak_mib"]),
            _notes(name, scenario),
        )
    console.print(table)
    r = report["ratios"]
    console.print(
        "ratios: (3)/(1) = "
        + _num(r["actionstream_over_ceiling"], "{:.3f}")
        + ", (3)/(2) = "
        + _num(r["actionstream_over_naive"], "{:.3f}")
        + ", (4)/ideal = "
        + _num(r["slow_provider_over_ideal"], "{:.3f}")
        + ", (4)/(4a) = "
        + _num(r["slow_provider_over_http_ceiling"], "{:.3f}")
        + ", (5)/ideal = "
        + _num(r["hot_bot_over_ideal"], "{:.3f}")
        + ", (6b)/(6a) = "
        + _num(r["two_workers_over_one"], "{:.2f}")
        + ", (8)/rate limit = "
        + _num(r.get("broadcast_over_rate_limit"), "{:.3f}")
        + ", (9) trickle p95 beside/alone = "
        + _num(r.get("trickle_p95_beside_over_alone"), "{:.2f}")
    )
    render_redis(report.get("redis") or {}, console)
    micro = report.get("micro") or {}
    if micro:
        codec, creds = micro["codec"], micro["credentials"]
        console.print(
            f"codec (µs): request {codec['request_bytes']} B encode "
            f"{codec['encode_request_us']:.1f} / decode {codec['decode_request_us']:.1f}; "
            f"result {codec['result_bytes']} B encode {codec['encode_result_us']:.1f} / "
            f"decode {codec['decode_result_us']:.1f}.  credentials get_default_for hit (µs): "
            f"in-process LRU {creds['local_hit_us']:.1f}, Redis {creds['redis_hit_us']:.1f}"
        )
    profile = report.get("profile")
    if profile:
        top = Table(
            title=f"py-spy, {profile.get('scenario', 'actionstream')} worker, main thread: "
            f"{profile['samples']:,} samples in "
            f"{profile['seconds']}s ({profile['path']}); cumulative: below the event loop's "
            "dispatch (Handle._run)",
            title_justify="left",
        )
        top.add_column("cumulative %", justify="right")
        top.add_column("function")
        top.add_column("self %", justify="right")
        top.add_column("function (by self)")
        rows = zip(profile["top_cumulative"], profile["top_self"], strict=False)
        for cumulative, own in rows:
            top.add_row(
                f"{cumulative['percent']:.1f}",
                cumulative["function"],
                f"{own['percent']:.1f}",
                own["function"],
            )
        console.print(top)
        packages = ", ".join(
            f"{p['package']} {p['percent']:.0f}%" for p in profile["self_by_package"][:10]
        )
        console.print(f"self time by package: {packages}")


def render_redis(redis: dict[str, Any], console: Console) -> None:
    """Commands per request (and the commands behind them), bytes per key of each kind."""
    if not redis:
        return
    table = Table(
        title="Redis per request, over the backlog (INFO commandstats: commands Redis ran, the "
        "ones inside Lua scripts included; not round trips). Bytes: MEMORY USAGE ... SAMPLES 0",
        title_justify="left",
    )
    # used_memory: rough (earlier runs' keys expiring meanwhile count too); the bytes per key are
    # the figures to size with.
    for column in ("scenario", "commands/req", "by command", "used_memory Δ/req (dataset)"):
        table.add_column(column, justify="left" if column != "commands/req" else "right")
    table.add_column("bytes per key: median / p95 (keys sampled)", overflow="fold")
    tables = None
    for summary in redis.values():
        tables = summary.get("key_tables") or tables
        by_command = ", ".join(
            f"{c} {v:.2f}" for c, v in summary["by_command_per_request"].items() if v >= 0.005
        )
        keys = []
        for kind, label in KEY_KINDS.items():
            k = summary["keys"].get(kind)
            if k:
                result = k.get("result_median_bytes")
                stored = f", result {result:,.0f} B" if result is not None else ""
                keys.append(
                    f"{label} {k['median_bytes']:,.0f} / {k['p95_bytes']:,.0f} B "
                    f"({k['sampled_keys']}{stored})"
                )
        table.add_row(
            summary["title"],
            _num(summary["commands_per_request"], "{:.2f}"),
            by_command,
            f"{_num(summary['used_memory_per_request_bytes'])} B "
            f"({_num(summary['used_memory_dataset_per_request_bytes'])} B)",
            "; ".join(keys),
        )
    console.print(table)
    if tables:
        console.print(
            f"key tables (MEMORY STATS, {tables['keys']:,} keys): main "
            f"{tables['main_table_bytes_per_key']:.0f} B/key, expires "
            f"{tables['expires_table_bytes_per_key']:.0f} B/key (MEMORY USAGE counts a key's own "
            "entry in the main table, not the rest of either)"
        )


def _clean(value: Any) -> Any:
    """JSON without NaN: a missing measurement is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(_clean(report), indent=2, default=str) + "\n")
