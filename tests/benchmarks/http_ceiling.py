"""Scenario 4's ceiling: a bare aiohttp client loop sending the same calls to the same fake.

``sendMessage`` to the fake Telegram of scenario 4 (its own process, same latency), ``--in-flight``
requests at a time (the worker's ``max_in_flight``), one pooled session, a distinct bot token
and chat per message as scenario 4 sends them. No Kafka, no Redis, no decoding: what one Python
process on one core gets out of the HTTP client alone. Run as its own process::

    python -m benchmarks.http_ceiling --base-url http://127.0.0.1:PORT/bot --requests 5000

It prints ``http-ceiling: <requests> <seconds> <cpu_seconds> <p50_ms> <p99_ms>`` when done (the
latency of each call, as the client saw it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

RESULT = "http-ceiling:"


async def run(
    base_url: str, requests: int, in_flight: int, bots: int
) -> tuple[float, float, list[float]]:
    connector = aiohttp.TCPConnector(limit=in_flight, limit_per_host=in_flight)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    took_ms: list[float] = []
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(n: int) -> None:
            token = f"{7_000_000 + n % bots}:AAceiling{n % bots:06d}abcdefghijklmnop"
            form = {"chat_id": str(1_000_000 + n), "text": f"bench {n}"}
            began = time.monotonic()
            async with session.post(f"{base_url}{token}/sendMessage", data=form) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the fake answered {response.status}")
            took_ms.append((time.monotonic() - began) * 1000)

        async def lane() -> None:
            while not queue.empty():
                await send(queue.get_nowait())

        for n in range(min(in_flight, 64)):  # warm the pool (connections, the fake's routes)
            await send(requests + n)
        took_ms.clear()
        began, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        return time.monotonic() - began, time.process_time() - cpu, took_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", required=True, help="the fake's base_url (…/bot)")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--bots", type=int, default=1000)
    args = parser.parse_args()
    seconds, cpu, took = asyncio.run(run(args.base_url, args.requests, args.in_flight, args.bots))
    cuts = statistics.quantiles(took, n=100)
    print(f"{RESULT} {args.requests} {seconds:.4f} {cpu:.4f} {cuts[49]:.1f} {cuts[98]:.1f}")


if __name__ == "__main__":
    main()
