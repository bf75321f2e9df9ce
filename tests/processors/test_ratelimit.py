"""The Redis rate limiter against a real Redis: GCRA bursts and waits, atomicity, concurrency,
penalties, key hygiene (no tokens in key names) and a dead Redis."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from integrations.base import IntegrationMetadata, RateLimit, RateLimitScope
from integrations.errors import TransientError
from integrations.telegram.client import TELEGRAM_RATE_LIMITS
from processors.ratelimit import (
    Decision,
    LimitKey,
    RateLimiter,
)
from processors.redis_scripts import RedisUnavailableError

TOKEN_A = "123456789:AAHsecretTokenOfBotAlphaxyzXYZ0123456"
TOKEN_B = "987654321:AAHsecretTokenOfBotBravoxyzXYZ6543210"
PER_TOKEN = RateLimit(scope=RateLimitScope.CREDENTIAL, limit=30, period_s=1.0)
PER_CHAT = RateLimit(scope=RateLimitScope.TARGET, limit=1, period_s=1.0, target_field="chat_id")


def metadata(
    *limits: RateLimit, provider: str | None = "telegram", **extra: Any
) -> IntegrationMetadata:
    fields: dict[str, Any] = {
        "id": "telegram_send_message",
        "version": "1.0.0",
        "name": "Test",
        "description": "test integration",
        "category": "messaging",
        "config_schema": {"type": "object"},
        "credentials_provider": provider,
        "rate_limits": limits,
        **extra,
    }
    return IntegrationMetadata(**fields)


TELEGRAM = metadata(*TELEGRAM_RATE_LIMITS)


# The shared test database (15) is FLUSHDB-ed before every test of every concurrent test run,
# several times a second when a few run at once; a flush in the middle of a burst would make these
# timing tests flaky. So they use the same Redis, another database, a namespace of their own per
# test, and delete only their own keys afterwards (never a FLUSHDB).
LIMITER_DB = 14


@pytest.fixture
def namespace(unique: str) -> str:
    return f"rltest-{unique}"


@pytest.fixture
def limiter_url(redis_url: str) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/{LIMITER_DB}"


@pytest.fixture
async def redis_client(limiter_url: str, namespace: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(limiter_url)
    try:
        yield client
    finally:
        mine = [name async for name in client.scan_iter(match=f"{namespace}:*")]
        if mine:
            await client.delete(*mine)
        await client.aclose()


@pytest.fixture
def limiter(redis_client: aioredis.Redis, namespace: str) -> RateLimiter:
    return RateLimiter(redis_client, namespace=namespace)


@pytest.fixture
async def second_client(limiter_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(limiter_url)  # another client object, its own connections
    try:
        yield client
    finally:
        await client.aclose()


def text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


def creds(token: str) -> dict[str, Any]:
    return {"token": token}


async def test_burst_of_30_then_refused_for_one_interval(limiter: RateLimiter) -> None:
    keys = limiter.keys_for(metadata(PER_TOKEN), credentials=creds(TOKEN_A), config={})
    assert len(keys) == 1
    for i in range(30):
        assert (await limiter.acquire(keys)).allowed, f"acquire {i + 1} of the burst refused"
    refused = await limiter.acquire(keys)
    assert not refused.allowed
    # Exactly 1/30 s after the first acquire; the 30 acquires took a little of that already.
    assert 1 / 30 - 0.025 < refused.wait_s <= 1 / 30 + 0.001
    await asyncio.sleep(refused.wait_s)
    assert (await limiter.acquire(keys)).allowed


async def test_targets_are_independent_but_share_the_credential_limit(
    limiter: RateLimiter,
) -> None:
    chat_1 = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 1})
    chat_2 = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": "2"})
    assert len(chat_1) == len(chat_2) == 2
    assert chat_1[0] == chat_2[0]  # the token's limit
    assert chat_1[1] != chat_2[1]  # each chat's limit

    assert (await limiter.acquire(chat_1)).allowed
    assert (await limiter.acquire(chat_2)).allowed  # another chat: independent
    again = await limiter.acquire(chat_1)
    assert not again.allowed
    assert 0.9 < again.wait_s <= 1.0  # the same chat: one per second
    # 42 and "42" are the same chat.
    as_int = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 2})
    assert as_int == chat_2

    # The token's 30/s spans chats: 28 more fresh chats pass, the next one waits for the token.
    for chat in range(100, 128):
        keys = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": chat})
        assert (await limiter.acquire(keys)).allowed, f"chat {chat} refused"
    fresh = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 999})
    over = await limiter.acquire(fresh)
    assert not over.allowed
    assert 0 < over.wait_s <= 1 / 30 + 0.001
    # Another token is not affected at all.
    other = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_B), config={"chat_id": 1})
    assert (await limiter.acquire(other)).allowed


async def test_refused_multi_key_acquire_consumes_nothing(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    wide = RateLimit(scope=RateLimitScope.CREDENTIAL, limit=5, period_s=60.0)
    narrow = RateLimit(scope=RateLimitScope.TARGET, limit=1, period_s=60.0, target_field="chat_id")
    both = limiter.keys_for(
        metadata(wide, narrow), credentials=creds(TOKEN_A), config={"chat_id": 7}
    )
    wide_key, _ = both
    assert (await limiter.acquire(both)).allowed
    before = await redis_client.get(wide_key.redis_key)
    for _ in range(3):
        refused = await limiter.acquire(both)
        assert not refused.allowed
        assert 59 < refused.wait_s <= 60
    assert await redis_client.get(wide_key.redis_key) == before
    # The wide key still has its whole remaining burst: 4 of 5.
    for i in range(4):
        assert (await limiter.acquire((wide_key,))).allowed, f"slot {i + 2} of 5 was consumed"
    assert not (await limiter.acquire((wide_key,))).allowed


async def test_exactly_the_burst_passes_under_concurrency(
    limiter: RateLimiter, second_client: aioredis.Redis, namespace: str
) -> None:
    other = RateLimiter(second_client, namespace=namespace)
    rule = RateLimit(scope=RateLimitScope.CREDENTIAL, limit=50, period_s=3600.0)
    keys = limiter.keys_for(metadata(rule), credentials=creds(TOKEN_A), config={})
    assert other.keys_for(metadata(rule), credentials=creds(TOKEN_A), config={}) == keys
    calls = [(limiter if i % 2 else other).acquire(keys) for i in range(200)]
    decisions = await asyncio.gather(*calls)
    assert sum(d.allowed for d in decisions) == 50
    # The next slot frees one emission interval (3600 s / 50 = 72 s) after the burst began.
    assert all(71 < d.wait_s <= 72 for d in decisions if not d.allowed)


async def test_penalize_blocks_every_key_then_resumes_without_burst(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    keys = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 5})
    await limiter.penalize(keys, 0.5)
    for key_set in (keys, keys[:1], keys[1:]):
        refused = await limiter.acquire(key_set)
        assert not refused.allowed
        assert 0.4 < refused.wait_s <= 0.5
    for key in keys:  # the keys expire on their own, a little after their TAT
        assert 0 < await redis_client.pttl(key.redis_key) <= 3000
    await asyncio.sleep(refused.wait_s)
    assert (await limiter.acquire(keys)).allowed
    # After a 429 the token resumes at its steady rate (one per 1/30 s), not with a burst of 30.
    started = time.monotonic()
    passed = sum([(await limiter.acquire(keys[:1])).allowed for _ in range(30)])
    assert passed <= 2 + (time.monotonic() - started) * 30, passed

    # A shorter penalty never shortens a longer one; a zero penalty is a no-op.
    await limiter.penalize(keys, 5.0)
    await limiter.penalize(keys, 0.1)
    await limiter.penalize(keys, 0)
    assert 4.9 < (await limiter.acquire(keys)).wait_s <= 5.0
    with pytest.raises(ValueError, match="finite"):
        await limiter.penalize(keys, float("inf"))


async def test_keys_hold_no_token_and_identify_the_credentials(
    limiter: RateLimiter, redis_client: aioredis.Redis, namespace: str
) -> None:
    a = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 1})
    b = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_B), config={"chat_id": 1})
    # The same credentials give the same keys, whatever the dict's key order.
    assert a == limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 1})
    two_fields = {"user": "u", "password": "hunter2"}
    reordered = {"password": "hunter2", "user": "u"}
    assert limiter.keys_for(TELEGRAM, credentials=two_fields, config={}) == limiter.keys_for(
        TELEGRAM, credentials=reordered, config={}
    )
    assert {k.redis_key for k in a}.isdisjoint(k.redis_key for k in b)
    # An HMAC fingerprint differs from the plain one (and from another HMAC key's).
    peppered = [
        RateLimiter(redis_client, namespace=namespace, fingerprint_key=key).keys_for(
            TELEGRAM, credentials=creds(TOKEN_A), config={}
        )
        for key in (b"k1", b"k2")
    ]
    assert len({a[:1], *peppered}) == 3

    for keys in (a, b):
        await limiter.acquire(keys)
        await limiter.penalize(keys, 1)
    mine = [text(n) for n in await redis_client.keys(f"{namespace}:*")]
    assert len(mine) == 4
    assert all(name.startswith(f"{namespace}:rl:{{telegram:") for name in mine)
    for name in [text(n) for n in await redis_client.keys("*")]:  # every key in the database
        for secret in (TOKEN_A, TOKEN_B, TOKEN_A.split(":")[1], TOKEN_B.split(":")[1]):
            assert secret not in name
    for key in (*a, *b):
        assert TOKEN_A not in repr(key) and TOKEN_B not in repr(key)


async def test_limits_that_do_not_apply_are_skipped(limiter: RateLimiter) -> None:
    assert limiter.keys_for(metadata(), credentials=creds(TOKEN_A), config={"chat_id": 1}) == ()
    only_chat = metadata(PER_CHAT)
    assert limiter.keys_for(only_chat, credentials=creds(TOKEN_A), config={}) == ()
    assert limiter.keys_for(only_chat, credentials=creds(TOKEN_A), config={"chat_id": None}) == ()
    (token_key,) = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"text": "hi"})
    assert ":c:30/1.0" in token_key.redis_key
    assert await limiter.acquire(()) == Decision(True, 0.0)

    # Two limits of one scope with different rates get their own keys (1/s and 20/min per chat).
    per_minute = RateLimit(
        scope=RateLimitScope.TARGET, limit=20, period_s=60, target_field="chat_id"
    )
    keys = limiter.keys_for(
        metadata(PER_CHAT, per_minute), credentials=creds(TOKEN_A), config={"chat_id": 1}
    )
    assert len({k.redis_key for k in keys}) == 2


async def test_keyless_integrations_share_one_identity_per_provider(
    limiter: RateLimiter, namespace: str
) -> None:
    weather = metadata(
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=2, period_s=60.0),
        provider=None,
        id="weather_get_forecast",
        category="weather",
        credentials_strategy="none",
    )
    # Whatever a caller passes as credentials, a keyless API counts all bots together.
    first = limiter.keys_for(weather, credentials=None, config={})
    assert first == limiter.keys_for(weather, credentials={"token": "x"}, config={})
    assert first[0].redis_key == f"{namespace}:rl:{{weather:public}}:c:2/60.0"
    assert (await limiter.acquire(first)).allowed
    assert (await limiter.acquire(first)).allowed
    assert not (await limiter.acquire(first)).allowed


async def test_keys_of_two_credentials_are_rejected_before_redis(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    a = limiter.keys_for(metadata(PER_TOKEN), credentials=creds(TOKEN_A), config={})
    b = limiter.keys_for(metadata(PER_TOKEN), credentials=creds(TOKEN_B), config={})
    with pytest.raises(ValueError, match="hash tag"):
        await limiter.acquire((*a, *b))
    with pytest.raises(ValueError, match="hash tag"):
        LimitKey("no-tag", 1, 1.0)
    with pytest.raises(ValueError, match="limit"):
        LimitKey("x:{t}", 0, 1.0)
    with pytest.raises(ValueError, match="namespace"):
        RateLimiter(redis_client, namespace="a{b}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def assert_unavailable(client: aioredis.Redis) -> None:
    limiter = RateLimiter(client, namespace="test")
    keys = limiter.keys_for(TELEGRAM, credentials=creds(TOKEN_A), config={"chat_id": 1})
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as caught:
        await limiter.acquire(keys)
    with pytest.raises(RedisUnavailableError):
        await limiter.penalize(keys, 1.0)
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, TransientError) and caught.value.retryable
    assert TOKEN_A not in str(caught.value) and TOKEN_A.split(":")[1] not in repr(caught.value)


async def test_redis_down_raises_unavailable_quickly() -> None:
    client = aioredis.Redis(
        port=closed_port(),
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await assert_unavailable(client)
    finally:
        await client.aclose()


async def test_redis_that_never_answers_raises_unavailable() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # accept, read, never answer
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(
        port=port, socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    try:
        await assert_unavailable(client)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_measure_acquire_cost(
    limiter: RateLimiter, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = (
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=1_000_000, period_s=1.0),
        RateLimit(
            scope=RateLimitScope.TARGET, limit=1_000_000, period_s=1.0, target_field="chat_id"
        ),
    )
    keys = limiter.keys_for(metadata(*rules), credentials=creds(TOKEN_A), config={"chat_id": 1})
    assert len(keys) == 2
    await limiter.acquire(keys)  # loads the script
    samples = []
    for _ in range(2000):
        started = time.perf_counter_ns()
        await limiter.acquire(keys)
        samples.append(time.perf_counter_ns() - started)
    with capsys.disabled():
        median_us = statistics.median(samples) / 1000
        print(f"\nrate limiter: median {median_us:.0f} µs per acquire (2 keys, 2000 calls)")
