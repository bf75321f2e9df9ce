"""CredentialsResolver: layers, counting, negative cache, invalidation, single flight, isolation."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from integrations.base import CredentialsStrategy
from integrations.credentials import (
    CredentialsConfigError,
    CredentialsResolver,
    CredentialsSourceError,
    CredentialsUnavailableError,
    FileCredentialsSource,
    generate_key,
)
from processors.settings import CredentialsSettings, Settings

TG = {"provider": "telegram", "strategy": "api_key"}


def bot() -> str:
    return str(uuid.uuid4())


async def test_layers_are_counted(make_resolver: Any, scripted: Any) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}})
    resolver = make_resolver(source)

    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
    other_worker = make_resolver(source)  # same Redis, empty in-process layer
    assert await other_worker.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}

    assert (resolver.stats.misses, resolver.stats.fetches, resolver.stats.local_hits) == (1, 1, 1)
    assert (other_worker.stats.redis_hits, other_worker.stats.fetches) == (1, 0)
    assert source.fetches == 1


async def test_uuid_and_string_ids_share_one_entry(make_resolver: Any, scripted: Any) -> None:
    bot_uuid = uuid.uuid4()
    source = scripted({(str(bot_uuid), "telegram", "api_key"): {"token": "t"}})
    resolver = make_resolver(source)

    assert await resolver.get_default_for(bot_id=bot_uuid, **TG) == {"token": "t"}
    assert await resolver.get_default_for(bot_id=str(bot_uuid).upper(), **TG) == {"token": "t"}
    assert source.fetches == 1


async def test_strategy_enum_and_its_value_share_one_entry(
    make_resolver: Any, scripted: Any
) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}})
    resolver = make_resolver(source)
    strategy = CredentialsStrategy.API_KEY  # what IntegrationMetadata.credentials_strategy holds

    creds = await resolver.get_default_for(bot_id=bot_id, provider="telegram", strategy=strategy)

    assert creds == {"token": "t"}
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
    assert source.fetches == 1
    assert resolver.stats.local_hits == 1


async def test_callers_get_independent_copies(make_resolver: Any, scripted: Any) -> None:
    bot_id = bot()
    resolver = make_resolver(scripted({(bot_id, "telegram", "api_key"): {"t": {"n": 1}}}))

    first = await resolver.get_default_for(bot_id=bot_id, **TG)
    assert first is not None
    first["t"]["n"] = 2
    first["injected"] = True

    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"t": {"n": 1}}


async def test_negative_answers_are_cached_for_the_negative_ttl(
    make_resolver: Any, scripted: Any, redis_client: aioredis.Redis
) -> None:
    source = scripted()
    resolver = make_resolver(source, negative_ttl_s=0.3, local_ttl_s=5)
    bot_id = bot()

    for _ in range(3):
        assert await resolver.get_default_for(bot_id=bot_id, **TG) is None
    assert source.fetches == 1
    assert resolver.stats.negative_hits == 2
    assert 0 < await redis_client.pttl(f"actionstream:cred:{{{bot_id}}}:telegram:api_key") <= 300

    await asyncio.sleep(0.4)
    assert await resolver.get_default_for(bot_id=bot_id, **TG) is None
    assert source.fetches == 2


async def test_invalidate_one_strategy(
    make_resolver: Any, scripted: Any, redis_client: aioredis.Redis
) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "old"}})
    resolver = make_resolver(source)
    await resolver.get_default_for(bot_id=bot_id, **TG)
    source.data[(bot_id, "telegram", "api_key")] = {"token": "new"}
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "old"}  # cached

    await resolver.invalidate(uuid.UUID(bot_id), "telegram", "api_key")

    assert await redis_client.exists(f"actionstream:cred:{{{bot_id}}}:telegram:api_key") == 0
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "new"}
    assert source.fetches == 2
    assert resolver.stats.invalidations == 1


async def test_invalidate_every_strategy_of_a_provider(
    make_resolver: Any, scripted: Any, redis_client: aioredis.Redis
) -> None:
    bot_id, bystander = bot(), bot()
    source = scripted(
        {
            (bot_id, "google", "oauth"): {"access_token": "a"},
            (bot_id, "google", "api_key"): {"key": "k"},
            (bot_id, "telegram", "api_key"): {"token": "t"},
            (bystander, "google", "oauth"): {"access_token": "b"},
        }
    )
    resolver = make_resolver(source)
    for b, provider, strategy in list(source.data):
        await resolver.get_default_for(bot_id=b, provider=provider, strategy=strategy)

    await resolver.invalidate(bot_id, "google")

    left = {
        k.decode() if isinstance(k, bytes) else k
        for k in await redis_client.keys("actionstream:cred:*")
    }
    assert left == {
        f"actionstream:cred:{{{bot_id}}}:telegram:api_key",
        f"actionstream:cred:{{{bystander}}}:google:oauth",
    }
    fetches = source.fetches
    await resolver.get_default_for(bot_id=bot_id, provider="google", strategy="oauth")
    await resolver.get_default_for(bot_id=bot_id, provider="google", strategy="api_key")
    await resolver.get_default_for(bot_id=bot_id, **TG)
    await resolver.get_default_for(bot_id=bystander, provider="google", strategy="oauth")
    assert source.fetches == fetches + 2


async def test_invalidation_disowns_a_load_in_flight(make_resolver: Any, scripted: Any) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "old"}}, delay_s=0.2)
    resolver = make_resolver(source)
    early = asyncio.create_task(resolver.get_default_for(bot_id=bot_id, **TG))
    await asyncio.sleep(0.05)  # the load is now waiting on the source

    source.data[(bot_id, "telegram", "api_key")] = {"token": "new"}
    await resolver.invalidate(bot_id, "telegram", "api_key")

    assert await early == {"token": "old"}  # asked before the invalidation
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "new"}
    assert source.fetches == 2


async def test_fifty_concurrent_callers_cause_one_fetch(make_resolver: Any, scripted: Any) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}}, delay_s=0.1)
    resolver = make_resolver(source)

    results = await asyncio.gather(
        *(resolver.get_default_for(bot_id=bot_id, **TG) for _ in range(50))
    )

    assert source.fetches == 1
    assert all(r == {"token": "t"} for r in results)
    assert len({id(r) for r in results}) == 50  # each caller its own copy
    assert (resolver.stats.misses, resolver.stats.coalesced) == (1, 49)


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(
    make_resolver: Any, scripted: Any
) -> None:
    bot_id = bot()
    source = scripted(delay_s=0.1, error=CredentialsUnavailableError("API down"))
    resolver = make_resolver(source)

    results = await asyncio.gather(
        *(resolver.get_default_for(bot_id=bot_id, **TG) for _ in range(20)),
        return_exceptions=True,
    )

    assert source.fetches == 1
    assert all(isinstance(r, CredentialsSourceError) and r.retryable for r in results)
    source.error = None
    source.data[(bot_id, "telegram", "api_key")] = {"token": "t"}
    assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
    assert (source.fetches, resolver.stats.fetch_errors) == (2, 1)


async def test_a_cancelled_caller_does_not_cancel_the_others(
    make_resolver: Any, scripted: Any
) -> None:
    bot_id = bot()
    source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}}, delay_s=0.2)
    resolver = make_resolver(source)
    impatient = asyncio.create_task(resolver.get_default_for(bot_id=bot_id, **TG))
    patient = asyncio.create_task(resolver.get_default_for(bot_id=bot_id, **TG))
    await asyncio.sleep(0.05)

    impatient.cancel()

    assert await patient == {"token": "t"}
    assert impatient.cancelled()
    assert source.fetches == 1


async def test_cold_loads_run_a_bounded_number_at_once(make_resolver: Any, scripted: Any) -> None:
    # Thousands of bots meeting a cold cache together wait for a turn, not a task each.
    bots = [bot() for _ in range(12)]
    source = scripted({(b, "telegram", "api_key"): {"token": b} for b in bots}, delay_s=0.05)
    running = peak = 0
    fetch = source.fetch

    async def counted(*key: str) -> dict[str, Any] | None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return await fetch(*key)
        finally:
            running -= 1

    source.fetch = counted
    resolver = make_resolver(source, resolver_options={"max_loads": 3})

    results = await asyncio.gather(*(resolver.get_default_for(bot_id=b, **TG) for b in bots))

    assert results == [{"token": b} for b in bots]
    assert peak == 3
    assert source.fetches == len(bots)


class _ShuffledSource:
    """Answers each bot with its own token after a random delay, so loads interleave."""

    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        self.fetches += 1
        await asyncio.sleep(random.uniform(0, 0.02))
        return {"token": f"{bot_id}/{provider}/{strategy}"}

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def blocking_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client that queues for a connection instead of failing: what a busy worker should use."""
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=20, timeout=10)
    client = aioredis.Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.disconnect()


@pytest.mark.parametrize("local_ttl_s", [5.0, 0.0])  # 0: every answer comes through Redis
async def test_no_bot_ever_gets_another_bots_credentials(
    make_resolver: Any, make_cache: Any, blocking_redis: aioredis.Redis, local_ttl_s: float
) -> None:
    source = _ShuffledSource()
    workers = [
        make_resolver(source, cache=make_cache(redis=blocking_redis, local_ttl_s=local_ttl_s))
        for _ in range(3)
    ]
    bots = [bot() for _ in range(60)]
    calls = [
        (worker, b, provider)
        for worker in workers
        for b in bots
        for provider in ("telegram", "openai")
        for _ in range(3)
    ]
    random.shuffle(calls)

    results = await asyncio.gather(
        *(w.get_default_for(bot_id=b, provider=p, strategy="api_key") for w, b, p in calls)
    )

    for (_, b, provider), creds in zip(calls, results, strict=True):
        assert creds == {"token": f"{b}/{provider}/api_key"}
    assert source.fetches <= len(bots) * 2 * len(workers)
    assert all(w.stats.redis_errors == 0 for w in workers)


async def test_redis_down_falls_back_to_the_source(
    make_resolver: Any, make_cache: Any, scripted: Any, closed_port: int
) -> None:
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port}/0", socket_timeout=1)
    try:
        bot_id = bot()
        source = scripted({(bot_id, "telegram", "api_key"): {"token": "t"}})
        resolver = make_resolver(source, cache=make_cache(redis=dead))

        assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
        assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
        await resolver.invalidate(bot_id, "telegram")  # logged, not raised
        assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}

        assert source.fetches == 2
        assert resolver.stats.redis_errors >= 1
    finally:
        await dead.aclose()


class _Refresher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []

    async def refresh(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: Mapping[str, Any],
        *,
        rejected: str | None = None,
    ) -> dict[str, Any]:
        self.calls.append((bot_id, provider, strategy, dict(credentials)))
        await asyncio.sleep(0.05)
        return {"access_token": "fresh", "expires_at": time.time() + 3600}


async def test_credentials_near_expiry_are_refreshed_once(
    make_resolver: Any, scripted: Any
) -> None:
    bot_id = bot()
    stale = {"access_token": "stale", "expires_at": time.time() + 10}
    source = scripted({(bot_id, "google", "oauth"): stale})
    refresher = _Refresher()
    resolver = make_resolver(source, resolver_options={"refresher": refresher})

    results = await asyncio.gather(
        *(
            resolver.get_default_for(bot_id=bot_id, provider="google", strategy="oauth")
            for _ in [1] * 20
        )
    )
    later = make_resolver(source, resolver_options={"refresher": refresher})  # reads Redis
    again = await later.get_default_for(bot_id=bot_id, provider="google", strategy="oauth")

    assert {r["access_token"] for r in results if r} == {"fresh"}
    assert again is not None
    assert again["access_token"] == "fresh"
    assert [c[:3] for c in refresher.calls] == [(bot_id, "google", "oauth")]
    assert refresher.calls[0][3]["access_token"] == "stale"
    assert resolver.stats.refreshes == 1


async def test_malformed_names_are_refused(make_resolver: Any, scripted: Any) -> None:
    resolver = make_resolver(scripted())
    with pytest.raises(ValueError, match="provider"):
        await resolver.get_default_for(bot_id=bot(), provider="a:b", strategy="api_key")


# -- from_settings --------------------------------------------------------------------------------


async def test_from_settings_refuses_to_start_without_a_key(
    redis_client: aioredis.Redis,
) -> None:
    with pytest.raises(CredentialsConfigError) as caught:
        CredentialsResolver.from_settings(Settings().credentials, redis_client)

    assert "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY" in str(caught.value)
    assert "urandom(32)" in str(caught.value)


async def test_from_settings_in_dev_mode_warns_and_works(
    redis_client: aioredis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot_id = bot()
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({bot_id: {"telegram": {"api_key": {"token": "t"}}}}))
    settings = Settings(dev_mode=True, credentials=CredentialsSettings(file_path=path))

    with caplog.at_level(logging.WARNING):
        resolver = CredentialsResolver.from_settings(
            settings.credentials, redis_client, dev_mode=settings.dev_mode
        )
    try:
        assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
    finally:
        await resolver.aclose()
    assert "ephemeral" in caplog.text


async def test_from_settings_reads_the_documented_environment(
    redis_client: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot_id = bot()
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({bot_id: {"telegram": {"api_key": {"token": "t"}}}}))
    monkeypatch.setenv("ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY", generate_key())
    monkeypatch.setenv("ACTIONSTREAM_CREDENTIALS__SOURCE", "file")
    monkeypatch.setenv("ACTIONSTREAM_CREDENTIALS__FILE_PATH", str(path))
    monkeypatch.setenv("ACTIONSTREAM_CREDENTIALS__NEGATIVE_TTL_S", "3")

    resolver = CredentialsResolver.from_settings(Settings().credentials, redis_client)
    try:
        assert await resolver.get_default_for(bot_id=bot_id, **TG) == {"token": "t"}
        assert await resolver.get_default_for(bot_id=bot(), **TG) is None
    finally:
        await resolver.aclose()
    keys = await redis_client.keys("actionstream:cred:*")
    ttls = sorted([await redis_client.pttl(k) for k in keys])
    assert ttls[0] <= 3000 < ttls[1]
    assert isinstance(resolver._source, FileCredentialsSource)
