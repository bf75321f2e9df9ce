"""IdempotencyStore against a real Redis: states, leases, TTLs, races, key isolation, failures."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from processors.idempotency import (
    MAX_RESULT_BYTES,
    Claim,
    ClaimState,
    IdempotencyStore,
    ResultTooLargeError,
)
from processors.redis_scripts import RedisUnavailableError

BOT = "0b6f3c52-8d0e-4a57-9a51-2f7d3c9e1a10"
RESULT = b"\xc3\x01\x00\xffavro\x00body\x80"  # binary on purpose: must come back byte for byte

StoreFactory = Callable[..., IdempotencyStore]


@pytest.fixture
def make_store(redis_client: aioredis.Redis) -> StoreFactory:
    """Build stores on the test Redis; keyword arguments go to the constructor."""

    def make(client: aioredis.Redis | None = None, **kwargs: float) -> IdempotencyStore:
        return IdempotencyStore(client or redis_client, namespace="t", **kwargs)

    return make


@pytest.fixture
async def second_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """Another client object (own pool, own connections) on the same test database."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_fresh_claim_is_acquired(make_store: StoreFactory) -> None:
    claim = await make_store().claim(BOT, "req-1", "w1:a")
    assert claim == Claim(ClaimState.ACQUIRED, attempts=1, owner="w1:a")


async def test_second_owner_is_busy_and_holder_reclaim_is_idempotent(
    make_store: StoreFactory,
) -> None:
    store = make_store(lease_s=30)
    await store.claim(BOT, "req-1", "w1:a")
    busy = await store.claim(BOT, "req-1", "w2:b")
    assert busy.state is ClaimState.BUSY
    assert busy.owner == "w1:a"
    assert busy.retry_after_s is not None
    assert 0 < busy.retry_after_s <= 30
    again = await store.claim(BOT, "req-1", "w1:a")
    assert again == Claim(ClaimState.ACQUIRED, attempts=1, owner="w1:a")


async def test_complete_then_claim_returns_done_with_exact_bytes(
    make_store: StoreFactory, redis_client: aioredis.Redis
) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1:a")
    assert await store.complete(BOT, "req-1", "w1:a", RESULT)
    done = await store.claim(BOT, "req-1", "w2:b")
    assert done == Claim(ClaimState.DONE, attempts=1, result=RESULT, owner="w1:a")
    record = await redis_client.hgetall(store.key(BOT, "req-1"))
    assert record[b"s"] == b"d"
    assert int(record[b"c"]) > 1_600_000_000_000  # completed_at, ms on the Redis clock
    assert b"e" not in record  # no lease left behind


async def test_first_completion_wins(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1:a")
    assert await store.complete(BOT, "req-1", "w1:a", b"first")
    assert not await store.complete(BOT, "req-1", "w2:b", b"second")
    assert await store.complete(BOT, "req-1", "w1:a", b"retried")  # same owner: a no-op, True
    done = await store.claim(BOT, "req-1", "w3:c")
    assert (done.result, done.owner) == (b"first", "w1:a")


async def test_concurrent_completes_have_one_winner(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w0")
    wins = await asyncio.gather(
        *(store.complete(BOT, "req-1", f"w{i}", f"r{i}".encode()) for i in range(50))
    )
    assert sum(wins) == 1
    done = await store.claim(BOT, "req-1", "reader")
    assert done.result == f"r{wins.index(True)}".encode()


async def test_expired_lease_is_acquired_after_unknown(make_store: StoreFactory) -> None:
    store = make_store(lease_s=0.3)
    await store.claim(BOT, "req-1", "w1:a")
    await asyncio.sleep(0.6)
    claim = await store.claim(BOT, "req-1", "w2:b")
    assert claim == Claim(ClaimState.ACQUIRED_AFTER_UNKNOWN, attempts=2, owner="w2:b")
    # the holder asking again gets the same grant, not a plain ACQUIRED
    assert (await store.claim(BOT, "req-1", "w2:b")).state is ClaimState.ACQUIRED_AFTER_UNKNOWN
    assert not await store.renew(BOT, "req-1", "w1:a")  # taken over: no longer w1's
    # w1 did finish its call after all: its result is real and is kept, w2's completion loses
    assert await store.complete(BOT, "req-1", "w1:a", b"late")
    assert not await store.complete(BOT, "req-1", "w2:b", b"second")
    assert (await store.claim(BOT, "req-1", "w3")).result == b"late"


async def test_attempts_count_every_grant(make_store: StoreFactory) -> None:
    store = make_store(lease_s=0.2)
    for attempt in range(1, 4):
        claim = await store.claim(BOT, "req-1", f"w{attempt}")
        assert claim.attempts == attempt
        await asyncio.sleep(0.4)
    await store.complete(BOT, "req-1", "w3", RESULT)
    assert (await store.claim(BOT, "req-1", "w4")).attempts == 3


async def test_renew_keeps_the_lease_past_its_first_expiry(make_store: StoreFactory) -> None:
    store = make_store(lease_s=1.0)
    await store.claim(BOT, "req-1", "w1:a")
    await asyncio.sleep(0.6)
    assert await store.renew(BOT, "req-1", "w1:a")
    assert not await store.renew(BOT, "req-1", "w2:b")
    await asyncio.sleep(0.6)  # 1.2 s after the claim: the first lease is over, the renewed one not
    assert (await store.claim(BOT, "req-1", "w2:b")).state is ClaimState.BUSY


async def test_renew_of_unknown_key_is_false(make_store: StoreFactory) -> None:
    assert not await make_store().renew(BOT, "nothing", "w1")


async def test_clean_release_makes_next_claim_acquired(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1:a")
    assert not await store.release(BOT, "req-1", "w2:b", outcome_unknown=False)  # not its lease
    assert (await store.claim(BOT, "req-1", "w2:b")).state is ClaimState.BUSY
    assert await store.release(BOT, "req-1", "w1:a", outcome_unknown=False)
    assert await store.release(BOT, "req-1", "w1:a", outcome_unknown=False)  # retried: still True
    claim = await store.claim(BOT, "req-1", "w2:b")
    assert claim == Claim(ClaimState.ACQUIRED, attempts=2, owner="w2:b")


async def test_unknown_release_makes_next_claim_after_unknown(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1:a")
    assert await store.release(BOT, "req-1", "w1:a", outcome_unknown=True)
    claim = await store.claim(BOT, "req-1", "w2:b")
    assert claim == Claim(ClaimState.ACQUIRED_AFTER_UNKNOWN, attempts=2, owner="w2:b")
    # w2 certainly did nothing, but w1's doubt remains: the next grant is still after-unknown
    assert await store.release(BOT, "req-1", "w2:b", outcome_unknown=False)
    assert (await store.claim(BOT, "req-1", "w3")).state is ClaimState.ACQUIRED_AFTER_UNKNOWN


async def test_release_after_done_is_false(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1")
    await store.complete(BOT, "req-1", "w1", RESULT)
    assert not await store.release(BOT, "req-1", "w1", outcome_unknown=True)
    assert (await store.claim(BOT, "req-1", "w2")).state is ClaimState.DONE


async def test_ttls(make_store: StoreFactory, redis_client: aioredis.Redis) -> None:
    store = make_store(lease_s=10, result_ttl_s=3600, unknown_ttl_s=50)
    key = store.key(BOT, "req-1")
    await store.claim(BOT, "req-1", "w1")
    # a claim lives its lease plus unknown_ttl_s, so a dead holder's doubt outlives the lease
    assert 55_000 < await redis_client.pttl(key) <= 60_000
    await store.complete(BOT, "req-1", "w1", RESULT)
    assert 3_595_000 < await redis_client.pttl(key) <= 3_600_000
    await store.claim(BOT, "req-2", "w1")
    await store.release(BOT, "req-2", "w1", outcome_unknown=True)
    assert 45_000 < await redis_client.pttl(store.key(BOT, "req-2")) <= 60_000


async def test_default_ttls(make_store: StoreFactory, redis_client: aioredis.Redis) -> None:
    store = make_store()  # lease 60 s, results 7 days, unknown markers as long as results
    week_ms = 7 * 86400 * 1000
    await store.claim(BOT, "req-1", "w1")
    assert week_ms < await redis_client.pttl(store.key(BOT, "req-1")) <= week_ms + 60_000
    await store.complete(BOT, "req-1", "w1", RESULT)
    assert week_ms - 5_000 < await redis_client.pttl(store.key(BOT, "req-1")) <= week_ms


async def test_fifty_concurrent_claims_one_winner(make_store: StoreFactory) -> None:
    store = make_store()
    claims = await asyncio.gather(*(store.claim(BOT, "req-1", f"w{i}") for i in range(50)))
    states = [c.state for c in claims]
    assert states.count(ClaimState.ACQUIRED) == 1
    assert states.count(ClaimState.BUSY) == 49
    winner = next(c.owner for c in claims if c.state is ClaimState.ACQUIRED)
    assert {c.owner for c in claims} == {winner}  # every BUSY names the winner


async def test_fifty_concurrent_claims_across_two_clients(
    make_store: StoreFactory, second_client: aioredis.Redis
) -> None:
    stores = [make_store(), make_store(second_client)]
    claims = await asyncio.gather(*(stores[i % 2].claim(BOT, "req-1", f"w{i}") for i in range(50)))
    states = [c.state for c in claims]
    assert states.count(ClaimState.ACQUIRED) == 1
    assert states.count(ClaimState.BUSY) == 49


async def test_same_key_for_two_bots_is_independent(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim("bot-a", "k", "w1")
    await store.complete("bot-a", "k", "w1", b"a's result")
    assert (await store.claim("bot-b", "k", "w2")).state is ClaimState.ACQUIRED


async def test_hostile_bot_ids_cannot_collide(make_store: StoreFactory) -> None:
    store = make_store()
    pairs = [
        ("a", "k}:z"),
        ("a}:k", "z"),  # unencoded, both would be t:idem:{a}:k}:z
        ("a}b", "k"),
        ("a", "b}:k"),
        ("x:y", "k"),
        ("x", "y:k"),
        ("{x}", "k"),
        ("~" + "0" * 64, "k"),
        ("é", "k"),
        ("z" * 100_000, "k"),
        ("z" * 128, "k"),
        ("z" * 129, "k"),
        ("a", "#" + "0" * 64),
        ("a", "x" * 10_000),
    ]
    keys = [store.key(bot, key) for bot, key in pairs]
    assert len(set(keys)) == len(pairs)
    assert all(len(k) < 300 for k in keys)
    for bot, _ in pairs:  # every key of one bot lands on one Cluster slot, whatever the key holds
        assert len({key_slot(store.key(bot, k)) for k in ("k", "}{", "{other}", "x" * 500)}) == 1
    for i, (bot, key) in enumerate(pairs):
        assert (await store.claim(bot, key, f"w{i}")).state is ClaimState.ACQUIRED
        await store.complete(bot, key, f"w{i}", f"r{i}".encode())
    for i, (bot, key) in enumerate(pairs):
        assert (await store.claim(bot, key, "reader")).result == f"r{i}".encode()


def test_empty_parts_and_bad_namespace_are_rejected(redis_client: aioredis.Redis) -> None:
    store = IdempotencyStore(redis_client)
    with pytest.raises(ValueError, match="non-empty"):
        store.key("", "k")
    with pytest.raises(ValueError, match="non-empty"):
        store.key("bot", "")
    with pytest.raises(ValueError, match="namespace"):
        IdempotencyStore(redis_client, namespace="a{b}")


async def test_decode_responses_client_is_rejected(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            IdempotencyStore(client)
    finally:
        await client.aclose()


async def test_result_too_large(make_store: StoreFactory) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1")
    with pytest.raises(ResultTooLargeError, match=r"1048577 bytes; the limit is 1048576"):
        await store.complete(BOT, "req-1", "w1", b"x" * (MAX_RESULT_BYTES + 1))
    assert (await store.claim(BOT, "req-1", "w1")).state is ClaimState.ACQUIRED  # untouched
    assert await store.complete(BOT, "req-1", "w1", b"x" * MAX_RESULT_BYTES)
    assert (await store.claim(BOT, "req-1", "w2")).result == b"x" * MAX_RESULT_BYTES


async def test_scripts_reload_after_script_flush(
    make_store: StoreFactory, redis_client: aioredis.Redis
) -> None:
    store = make_store()
    await store.claim(BOT, "req-1", "w1")
    await redis_client.script_flush()
    assert await store.complete(BOT, "req-1", "w1", RESULT)


@pytest.fixture
async def dead_redis() -> AsyncIterator[aioredis.Redis]:
    """A client pointed at a port nobody listens on, with short timeouts and one retry."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 1),
    )
    yield client
    await client.aclose()


async def test_redis_down_raises_unavailable_quickly(dead_redis: aioredis.Redis) -> None:
    store = IdempotencyStore(dead_redis)
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "claim": lambda: store.claim(BOT, "req-1", "w1"),
        "renew": lambda: store.renew(BOT, "req-1", "w1"),
        "complete": lambda: store.complete(BOT, "req-1", "w1", RESULT),
        "release": lambda: store.release(BOT, "req-1", "w1", outcome_unknown=True),
    }
    for op, call in operations.items():
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError, match=rf"idempotency {op} of .*Error") as e:
            await call()
        assert time.monotonic() - started < 3
        assert isinstance(e.value.__cause__, RedisConnectionError)


async def test_redis_error_reply_raises_unavailable(
    make_store: StoreFactory, redis_client: aioredis.Redis
) -> None:
    store = make_store()
    await redis_client.set(store.key(BOT, "req-1"), b"not a hash")  # WRONGTYPE inside the script
    with pytest.raises(RedisUnavailableError, match="WRONGTYPE"):
        await store.claim(BOT, "req-1", "w1")


async def test_measure_claim_complete_round_trip(make_store: StoreFactory) -> None:
    """Median cost of claim + complete (two EVALSHAs) on this Redis; printed, not asserted."""
    store = make_store()
    result = b"r" * 300  # about an encoded IntegrationResult
    timings = []
    for i in range(2_000):
        started = time.perf_counter()
        claim = await store.claim(BOT, f"req-{i}", "w1")
        await store.complete(BOT, f"req-{i}", "w1", result)
        timings.append(time.perf_counter() - started)
        assert claim.state is ClaimState.ACQUIRED
    median_us = statistics.median(timings) * 1e6
    p99_us = statistics.quantiles(timings, n=100)[98] * 1e6
    print(f"\nidempotency claim+complete: median {median_us:.0f} µs, p99 {p99_us:.0f} µs")
