"""Micro-benchmarks: the Avro codec and the credentials cache's hit path, µs per call.

Each figure is the median over ``repeat`` timed batches of ``number`` calls, in this process.
"""

from __future__ import annotations

import json
import statistics
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from benchmarks.noop_integration import NOOP_ID, PROVIDER, STRATEGY, result_of
from integrations.credentials import CredentialsCache, CredentialsResolver, generate_key
from integrations.credentials.crypto import EntryCipher
from integrations.credentials.keys import make_key
from integrations.credentials.sources.memory import MemoryCredentialsSource
from schemas import AvroCodec, IntegrationRequest, IntegrationResult, utc_now


def _per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def codec_micro(*, number: int = 20_000, repeat: int = 5) -> dict[str, Any]:
    """Encode and decode one request and one result, as the worker does for each event."""
    codec = AvroCodec()
    request = IntegrationRequest.new(
        bot_id=f"bench-{uuid.uuid4().hex[:10]}-42",
        integration_id=NOOP_ID,
        config=json.dumps({"chat_id": 1_000_042, "text": "bench message 1000042"}),
    )
    now = utc_now()
    envelope = {"response": {"ok": True, "result": {"chat_id": 1_000_042, "ok": True}}}
    result = result_of(request, envelope, received_at=now, finished_at=now, worker_id="bench-w1")
    request_bytes, result_bytes = codec.encode(request), codec.encode(result)
    return {
        "request_bytes": len(request_bytes),
        "result_bytes": len(result_bytes),
        "encode_request_us": _per_call_us(lambda: codec.encode(request), number, repeat),
        "decode_request_us": _per_call_us(
            lambda: codec.decode(IntegrationRequest, request_bytes), number, repeat
        ),
        "encode_result_us": _per_call_us(lambda: codec.encode(result), number, repeat),
        "decode_result_us": _per_call_us(
            lambda: codec.decode(IntegrationResult, result_bytes), number, repeat
        ),
    }


async def _async_per_call_us(
    call: Callable[[], Awaitable[object]], number: int, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            await call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / number * 1e6


async def credentials_micro(
    redis_url: str, *, number: int = 20_000, redis_number: int = 2_000, repeat: int = 5
) -> dict[str, Any]:
    """``get_default_for`` hits: from the in-process LRU, and from Redis (LRU turned off).

    The Redis case is the real path: a single-flight task, a GET, AES-GCM open, JSON, a deep
    copy. Keys live in a namespace of their own and are deleted afterwards.
    """
    redis = Redis.from_url(redis_url)
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    bot = f"bench-{uuid.uuid4().hex[:10]}-1"
    source = MemoryCredentialsSource({bot: {PROVIDER: {STRATEGY: {"token": "7000001:AAbench"}}}})
    cipher = EntryCipher.from_text(generate_key())

    def resolver(local_ttl_s: float) -> CredentialsResolver:
        cache = CredentialsCache(redis, cipher, local_ttl_s=local_ttl_s, namespace=namespace)
        return CredentialsResolver(source, cache)

    local, shared = resolver(3600.0), resolver(0.0)

    async def lookup(which: CredentialsResolver) -> object:
        return await which.get_default_for(bot_id=bot, provider=PROVIDER, strategy=STRATEGY)

    try:
        await lookup(local)  # the one miss: fetched from the source, written to both layers
        out = {
            "local_hit_us": await _async_per_call_us(lambda: lookup(local), number, repeat),
            "redis_hit_us": await _async_per_call_us(lambda: lookup(shared), redis_number, repeat),
        }
        if source.fetches != 1 or shared.stats.redis_hits != redis_number * repeat:
            raise RuntimeError(
                f"credentials micro-benchmark did not measure hits: {source.fetches} fetches, "
                f"local {local.stats}, shared {shared.stats}"
            )
        out["local_hits"] = local.stats.local_hits
        out["redis_hits"] = shared.stats.redis_hits
        return out
    finally:
        key = make_key(bot, PROVIDER, STRATEGY)
        cache = CredentialsCache(redis, cipher, namespace=namespace)
        await redis.delete(cache.redis_key(key), f"{namespace}:cred-index:{{{bot}}}:{PROVIDER}")
        await redis.aclose()
