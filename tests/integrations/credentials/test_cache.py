"""The encrypted Redis layer, its TTLs and its failure modes, on a real Redis."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from integrations.credentials import CredentialsCache, EntryCipher
from integrations.credentials.cache import Cached, expires_at
from integrations.credentials.crypto import UndecryptableEntry
from integrations.credentials.keys import make_key

SECRET = "123456:SECRET-TOKEN-VALUE"


def bot() -> str:
    return str(uuid.uuid4())


async def test_redis_holds_only_ciphertext_bound_to_its_key(
    make_resolver: Any, scripted: Any, redis_client: aioredis.Redis, cipher: EntryCipher
) -> None:
    bot_id = bot()
    resolver = make_resolver(scripted({(bot_id, "telegram", "api_key"): {"token": SECRET}}))
    await resolver.get_default_for(bot_id=bot_id, provider="telegram", strategy="api_key")

    name = f"actionstream:cred:{{{bot_id}}}:telegram:api_key"
    raw = await redis_client.get(name)
    assert raw is not None
    sealed = base64.b64decode(raw)
    assert SECRET.encode() not in raw
    assert SECRET.encode() not in sealed
    assert b"token" not in sealed
    assert SECRET.encode() in cipher.open(sealed, bound_to=name)
    with pytest.raises(UndecryptableEntry):
        EntryCipher(os.urandom(32)).open(sealed, bound_to=name)
    # Nothing anywhere in the database holds the secret in clear.
    for key in await redis_client.keys("*"):
        value = await redis_client.dump(key)
        assert value is not None
        assert SECRET.encode() not in value


async def test_ciphertext_moved_to_another_bot_is_rejected_and_refetched(
    make_resolver: Any, make_cache: Any, scripted: Any, redis_client: aioredis.Redis
) -> None:
    bot_a, bot_b = bot(), bot()
    source = scripted(
        {
            (bot_a, "telegram", "api_key"): {"token": "token-of-A"},
            (bot_b, "telegram", "api_key"): {"token": "token-of-B"},
        }
    )
    writer = make_resolver(source)
    for b in (bot_a, bot_b):
        await writer.get_default_for(bot_id=b, provider="telegram", strategy="api_key")
    key_a = f"actionstream:cred:{{{bot_a}}}:telegram:api_key"
    key_b = f"actionstream:cred:{{{bot_b}}}:telegram:api_key"
    # An attacker with write access to Redis copies A's entry over B's.
    await redis_client.set(key_b, await redis_client.get(key_a) or b"")

    reader = make_resolver(source)  # fresh in-process layer: must go through Redis
    creds = await reader.get_default_for(bot_id=bot_b, provider="telegram", strategy="api_key")

    assert creds == {"token": "token-of-B"}
    assert reader.stats.rejected_entries == 1
    assert reader.stats.redis_hits == 0
    assert source.fetches == 3  # A, B, then B again after the rejection
    # The refetch replaced the planted entry with B's own.
    third = make_resolver(source)
    again = await third.get_default_for(bot_id=bot_b, provider="telegram", strategy="api_key")
    assert again == {"token": "token-of-B"}
    assert third.stats.redis_hits == 1


async def test_entries_from_another_key_are_misses(
    make_resolver: Any, make_cache: Any, scripted: Any, redis_client: aioredis.Redis
) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}})
    await make_resolver(source).get_default_for(
        bot_id=bot_id, provider="telegram", strategy="api_key"
    )

    rotated = make_resolver(
        source, cache=CredentialsCache(redis_client, EntryCipher(os.urandom(32)))
    )
    creds = await rotated.get_default_for(bot_id=bot_id, provider="telegram", strategy="api_key")

    assert creds == {"token": "t"}
    assert rotated.stats.rejected_entries == 1
    assert source.fetches == 2


async def test_ttls_positive_negative_and_index(
    make_cache: Any, redis_client: aioredis.Redis
) -> None:
    cache = make_cache(ttl_s=300, negative_ttl_s=15)
    bot_id = bot()
    positive = make_key(bot_id, "telegram", "api_key")
    negative = make_key(bot_id, "telegram", "oauth")
    await cache.put(positive, Cached({"token": "t"}))
    await cache.put(negative, Cached(None))

    assert 295_000 < await redis_client.pttl(cache.redis_key(positive)) <= 300_000
    assert 10_000 < await redis_client.pttl(cache.redis_key(negative)) <= 15_000
    index = f"actionstream:cred-index:{{{bot_id}}}:telegram"
    assert await redis_client.smembers(index) == {b"api_key", b"oauth"}
    assert await redis_client.pttl(index) > 295_000


async def test_ttl_is_capped_by_the_credentials_expiry(
    make_cache: Any, redis_client: aioredis.Redis
) -> None:
    cache = make_cache(ttl_s=300)
    soon = make_key(bot(), "google", "oauth")
    gone = make_key(bot(), "google", "oauth")
    await cache.put(soon, Cached({"access_token": "a", "expires_at": time.time() + 20}))
    await cache.put(gone, Cached({"access_token": "a", "expires_at": "2001-01-01T00:00:00Z"}))

    assert 15_000 < await redis_client.pttl(cache.redis_key(soon)) <= 20_000
    assert 0 < await redis_client.pttl(cache.redis_key(gone)) <= 1_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000.0),
        ("2023-11-14T22:13:20+00:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),  # naive means UTC
        ("soon", None),
        (True, None),
        (None, None),
    ],
)
def test_expires_at_forms(value: object, expected: float | None) -> None:
    assert expires_at({"expires_at": value}) == expected


async def test_works_with_a_decoding_redis_client(
    redis_url: str, redis_client: aioredis.Redis, make_cache: Any
) -> None:
    text_client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        cache = make_cache(redis=text_client, local_ttl_s=0)
        bot_id = bot()
        key = make_key(bot_id, "telegram", "api_key")
        await cache.put(key, Cached({"token": "t"}))
        await cache.put(make_key(bot_id, "telegram", "oauth"), Cached(None))

        assert await cache.get_shared(key) == Cached({"token": "t"})
        await cache.drop_shared(bot_id, "telegram", None)
        assert await redis_client.keys("*") == []
    finally:
        await text_client.aclose()


async def test_local_layer_is_bounded_lru(make_cache: Any) -> None:
    cache = make_cache(local_max_entries=2)
    a, b, c = (make_key(bot(), "telegram", "api_key") for _ in range(3))
    cache.put_local(a, Cached({"t": "a"}))
    cache.put_local(b, Cached({"t": "b"}))
    assert cache.get_local(a) is not None  # a is now the most recent
    cache.put_local(c, Cached({"t": "c"}))

    assert cache.get_local(b) is None
    assert cache.get_local(a) is not None
    assert cache.get_local(c) is not None


async def test_redis_down_reads_miss_writes_skip_and_back_off(
    closed_port: int, cipher: EntryCipher, make_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port}/0", socket_timeout=1)
    try:
        cache = make_cache(redis=dead, redis_backoff_s=60, local_ttl_s=0)
        key = make_key(bot(), "telegram", "api_key")
        with caplog.at_level(logging.WARNING, logger="integrations.credentials.cache"):
            assert await cache.get_shared(key) is None
            await cache.put(key, Cached({"token": SECRET}))
            assert await cache.get_shared(key) is None

        assert cache.stats.redis_errors == 1  # the rest skipped Redis during the back-off
        assert "Redis read failed" in caplog.text
        assert SECRET not in caplog.text
    finally:
        await dead.aclose()


async def test_an_exhausted_client_pool_is_a_miss_not_an_outage(
    redis_url: str, make_cache: Any
) -> None:
    pool = aioredis.ConnectionPool.from_url(redis_url, max_connections=1)
    client = aioredis.Redis(connection_pool=pool)
    try:
        cache = make_cache(redis=client, local_ttl_s=0, redis_backoff_s=60)
        key = make_key(bot(), "telegram", "api_key")
        await cache.put(key, Cached({"token": "t"}))

        results = await asyncio.gather(*(cache.get_shared(key) for _ in range(5)))

        assert Cached({"token": "t"}) in results
        assert cache.stats.redis_pool_exhausted == results.count(None) > 0
        assert await cache.get_shared(key) == Cached({"token": "t"})  # no back-off
    finally:
        await client.aclose()
        await pool.disconnect()


async def test_concurrent_redis_operations_are_bounded(
    redis_url: str, redis_client: aioredis.Redis, make_cache: Any
) -> None:
    # Many bots meeting a cold cache at once (a start, a rebalance) must not open a connection
    # each: Redis counts every worker's against one maxclients, and each costs worker memory.
    name = f"bounded-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url, client_name=name)  # its own pool, named
    try:
        cache = make_cache(redis=client, local_ttl_s=0, redis_concurrency=4)
        keys = [make_key(bot(), "telegram", "api_key") for _ in range(200)]

        await asyncio.gather(*(cache.put(key, Cached({"token": "t"})) for key in keys))
        results = await asyncio.gather(*(cache.get_shared(key) for key in keys))
        await asyncio.gather(*(cache.drop_shared(key.bot_id, "telegram", None) for key in keys))

        assert results == [Cached({"token": "t"})] * len(keys)
        opened = [c for c in await redis_client.client_list() if c.get("name") == name]
        assert 1 <= len(opened) <= 4
    finally:
        await client.aclose()
