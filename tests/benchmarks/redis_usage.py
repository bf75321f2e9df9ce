"""What a request costs Redis: commands (``INFO commandstats``), bytes per key (``MEMORY USAGE``).

**Commands**: :class:`RedisMeter` snapshots ``INFO commandstats memory`` on a connection of its
own just before a scenario's backlog is released (the processors are paused) and again once it is
drained, and divides the difference by the backlog. Snapshots are subtracted rather than the
counters reset (``CONFIG RESETSTAT``), so a shared Redis keeps its statistics; the only command
the meter itself adds inside the window is the first ``INFO`` (Redis counts a command after
running it, so the second ``INFO`` is not in its own reply): :data:`OWN_COMMANDS` is taken off.
Whatever else talks to that Redis meanwhile is counted too: benchmark on a Redis of its own.

These are commands as Redis counts them: every ``EVALSHA`` once, and every command its Lua script
runs (``TIME``, ``HMGET``, ``HSET``, ``PEXPIRE``, ``GET``/``SET`` of a rate-limit key...) once
more, which is the work Redis does. They are not round trips: the worker's ScriptRunner sends the
script calls of one event-loop turn as one pipeline, and nothing on the server side counts those.

**Bytes**: after the drain, up to :data:`SAMPLE` keys of each kind (the run's idempotency records,
rate-limit keys, credentials cache entries) are found with ``SCAN MATCH`` and measured with
``MEMORY USAGE key SAMPLES 0`` (every field counted); idempotency records also report the length
of their stored result (``HSTRLEN key r``). Rate-limit keys live about one period past their last
slot, so only the last second's are still there to be sampled. ``MEMORY USAGE`` counts a key's
name, value and its entry in the main key table, not the bucket array of that table nor its entry
in the table of expiring keys: :meth:`RedisMeter.key_tables` divides what ``MEMORY STATS`` says
those two tables take by the number of keys, the per-key cost to add to it.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from benchmarks.procs import BenchError

OWN_COMMANDS = {"info": 1}  # the meter's first snapshot, counted by the second one
SAMPLE = 200  # keys measured per kind
SCAN_COUNT = 1_000


def key_patterns(bot_prefix: str) -> dict[str, str]:
    """``SCAN MATCH`` patterns of each key kind; ``bot_prefix`` selects one run's bots.

    Layouts: processors/idempotency.py, processors/ratelimit.py, integrations/credentials/cache.py.
    Rate-limit keys name a credential's fingerprint, not a bot: any run's keys match, but they
    expire within a second or so of their last use.
    """
    return {
        "idempotency": f"*:idem:{{{bot_prefix}*}}:*",
        "ratelimit_credential": "*:rl:{*}:c:*",
        "ratelimit_target": "*:rl:{*}:t:*",
        "credentials": f"*:cred:{{{bot_prefix}*}}:*",
        "credentials_index": f"*:cred-index:{{{bot_prefix}*}}:*",
    }


def command_calls(info: Mapping[str, Any]) -> dict[str, int]:
    """``{"evalsha": 123, "config|get": 4, ...}`` from a parsed ``INFO commandstats``."""
    return {
        name.removeprefix("cmdstat_"): int(stats["calls"])
        for name, stats in info.items()
        if name.startswith("cmdstat_") and isinstance(stats, Mapping)
    }


def command_delta(
    before: Mapping[str, int], after: Mapping[str, int], own: Mapping[str, int] = OWN_COMMANDS
) -> dict[str, int]:
    """Calls made between two snapshots, less the meter's own; commands not called are left out."""
    delta = {
        name: after.get(name, 0) - before.get(name, 0) - own.get(name, 0)
        for name in set(before) | set(after)
    }
    return dict(sorted(((k, v) for k, v in delta.items() if v > 0), key=lambda kv: -kv[1]))


def nearest_rank(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def per_request(
    delta: Mapping[str, int], requests: int, memory: Mapping[str, int]
) -> dict[str, Any]:
    """``memory``: growth of ``used_memory`` (all of it: client buffers, which come and go, too)
    and of ``used_memory_dataset`` (the keys' values, without the key tables' own overhead).
    Both are rough: keys of earlier runs expiring meanwhile count too, so only a long run on a
    fresh Redis gives a figure to compare with the bytes per key."""
    total = sum(delta.values())
    out: dict[str, Any] = {
        "requests": requests,
        "commands": total,
        "commands_per_request": total / requests,
        "by_command_per_request": {k: v / requests for k, v in delta.items()},
    }
    for name, grown in memory.items():
        out[f"{name}_delta_bytes"] = grown
        out[f"{name}_per_request_bytes"] = grown / requests
    return out


MEMORY_FIGURES = ("used_memory", "used_memory_dataset")


@dataclass
class _Snapshot:
    calls: dict[str, int]
    memory: dict[str, int]


class RedisMeter:
    """Commands and memory a window of work cost Redis, and the size of the keys it left."""

    def __init__(self, url: str, patterns: Mapping[str, str]) -> None:
        self.url = url
        self.patterns = dict(patterns)
        self._redis: Redis | None = None
        self._before: _Snapshot | None = None

    async def __aenter__(self) -> RedisMeter:
        self._redis = Redis.from_url(self.url)
        await self._redis.ping()  # connect now: the handshake stays out of the window
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise BenchError("RedisMeter used outside its 'async with'")
        return self._redis

    async def _snapshot(self) -> _Snapshot:
        info = await self.redis.info("commandstats", "memory")
        return _Snapshot(command_calls(info), {m: int(info[m]) for m in MEMORY_FIGURES})

    async def start(self) -> None:
        self._before = await self._snapshot()

    async def stop(self, requests: int) -> dict[str, Any]:
        """Commands per request since :meth:`start`; BenchError if none were counted."""
        after = await self._snapshot()
        if self._before is None:
            raise BenchError("RedisMeter.stop() before start()")
        delta = command_delta(self._before.calls, after.calls)
        if not delta or requests <= 0:
            raise BenchError(f"Redis counted no commands for {requests} requests ({self.url})")
        memory = {m: after.memory[m] - self._before.memory[m] for m in MEMORY_FIGURES}
        return per_request(delta, requests, memory)

    async def key_tables(self) -> dict[str, Any] | None:
        """Bytes per key of the database's key tables (main and expires), from MEMORY STATS."""
        db = int(self.redis.connection_pool.connection_kwargs.get("db", 0))
        tables = (await self.redis.memory_stats()).get(f"db.{db}")
        space = (await self.redis.info("keyspace")).get(f"db{db}")
        if not isinstance(tables, Mapping) or not isinstance(space, Mapping) or not space["keys"]:
            return None
        main, expires = tables["overhead.hashtable.main"], tables["overhead.hashtable.expires"]
        return {
            "keys": int(space["keys"]),
            "expiring_keys": int(space["expires"]),
            "main_table_bytes_per_key": main / int(space["keys"]),
            "expires_table_bytes_per_key": expires / max(1, int(space["expires"])),
        }

    async def keys(self) -> dict[str, dict[str, Any] | None]:
        """Per kind of key: MEMORY USAGE over up to SAMPLE keys (None: no key of that kind)."""
        return {kind: await self.key_sizes(pattern) for kind, pattern in self.patterns.items()}

    async def key_sizes(self, pattern: str, sample: int = SAMPLE) -> dict[str, Any] | None:
        names: list[bytes] = []
        async for name in self.redis.scan_iter(match=pattern, count=SCAN_COUNT):
            names.append(name)
            if len(names) >= sample:
                break
        if not names:
            return None
        idempotency = ":idem:" in pattern
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
            pipe.object("encoding", name)
            if idempotency:
                pipe.hstrlen(name, "r")
        replies = await pipe.execute()
        step = 3 if idempotency else 2
        rows = [replies[i : i + step] for i in range(0, len(replies), step)]
        rows = [row for row in rows if row[0] is not None]  # expired since the SCAN
        if not rows:
            return None
        sizes = [int(row[0]) for row in rows]
        encodings = Counter(_text(row[1]) for row in rows if row[1] is not None)
        out: dict[str, Any] = {
            "pattern": pattern,
            "keys": len(sizes),
            "median_bytes": statistics.median(sizes),
            "p95_bytes": nearest_rank(sizes, 95),
            "min_bytes": min(sizes),
            "max_bytes": max(sizes),
            "encodings": dict(encodings.most_common()),
        }
        if idempotency:
            results = [int(row[2]) for row in rows]
            out["result_median_bytes"] = statistics.median(results)
            out["result_p95_bytes"] = nearest_rank(results, 95)
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def measured(meter: RedisMeter, requests: int) -> dict[str, Any]:
    """The meter's figures for a drained backlog; BenchError if the run left no records."""
    usage = await meter.stop(requests)
    usage["keys"] = await meter.keys()
    usage["key_tables"] = await meter.key_tables()
    if usage["keys"].get("idempotency") is None:
        raise BenchError(f"no idempotency record matches {meter.patterns['idempotency']!r}")
    return usage
