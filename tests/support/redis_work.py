"""Everything actionstream does on Redis, in one function: run it against each topology.

Each store and script the worker has does its work once (idempotency, rate limits, the
credentials cache, OAuth renewal), through the client it is given and, optionally, one
:class:`ScriptRunner` (a recording one proves which scripts ran with which keys).
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import parse_qsl

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from integrations.base import IntegrationMetadata
from integrations.credentials import EntryCipher, MemoryCredentialsSource
from integrations.credentials.cache import Cached, CredentialsCache
from integrations.credentials.errors import ReauthorisationRequiredError
from integrations.credentials.keys import make_key
from integrations.credentials.oauth import TokenEndpoint
from integrations.credentials.refresh import OAuthRefresher
from integrations.credentials.testing import TokenGrants
from integrations.redis_types import RedisClient
from integrations.telegram.client import TELEGRAM_RATE_LIMITS
from processors.call_marks import CallMarks
from processors.idempotency import MARK_SCRIPT, ClaimState, IdempotencyStore
from processors.ratelimit import RateLimiter
from processors.redis_scripts import ScriptRunner


async def do_the_redis_work(client: RedisClient, scripts: ScriptRunner | None = None) -> None:
    """Every kind of Redis work the worker does, once, asserting each answer."""
    store = IdempotencyStore(client, lease_s=5.0, scripts=scripts)
    assert (await store.claim("bot-1", "req-1", "w1:a")).state is ClaimState.ACQUIRED
    assert await store.renew("bot-1", "req-1", "w1:a")
    assert await store.complete("bot-1", "req-1", "w1:a", b"result")
    assert (await store.claim("bot-1", "req-1", "w2:b")).state is ClaimState.DONE
    assert await store.claim("bot-1", "req-2", "w1:a")
    assert await store.release("bot-1", "req-2", "w1:a", outcome_unknown=True)
    # A reservation, marked the slow way (through the scripts) and, off a cluster, the way the
    # send gate marks as the request leaves (its own connection, EVALSHA).
    assert (await store.claim("bot-1", "req-3", "w1:a", reserve=True)).state is ClaimState.ACQUIRED
    await store.mark("bot-1", "req-3", "w1:a")
    if not isinstance(client, RedisCluster):
        marks = CallMarks(client, MARK_SCRIPT)
        try:
            for _ in range(100):
                if (reply := marks.write(store.key("bot-1", "req-3"))) is not None:
                    assert await reply == 1
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("call marks never connected")
        finally:
            await marks.aclose()

    limiter = RateLimiter(client, fingerprint_key=b"k" * 32, scripts=scripts)
    meta = IntegrationMetadata(
        id="acl_check", version="1.0.0", name="ACL check", description="", category="messaging",
        config_schema={"type": "object"}, credentials_provider="telegram",
        rate_limits=TELEGRAM_RATE_LIMITS,
    )  # fmt: skip
    keys = limiter.keys_for(meta, credentials={"token": "t"}, config={"chat_id": 1})
    assert (await limiter.acquire(keys)).allowed
    await limiter.penalize(keys, 1.0)

    cache = CredentialsCache(client, EntryCipher(os.urandom(32)), local_ttl_s=0)
    key = make_key("bot-1", "telegram", "api_key")
    await cache.put(key, Cached({"token": "secret"}))
    cache.drop_local("bot-1", "telegram", None)
    assert await cache.get_shared(key) == Cached({"token": "secret"})
    await cache.drop_shared("bot-1", "telegram", None)
    assert await cache.get_shared(key) is None

    # OAuth renewal: its lock, sealed pending pair and dead-grant mark.
    grants = TokenGrants(rotate=True)
    grants.grant("app", "app-secret", refresh_token="r0")

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        status, body = grants.answer(dict(parse_qsl(request.content.decode())))
        return httpx.Response(status, json=body)

    due = {"access_token": "a0", "refresh_token": "r0", "expires_at": time.time(),
           "client_id": "app", "client_secret": "app-secret"}  # fmt: skip
    bot = "0e6c3d1e-0000-4000-8000-00000000acl1"
    source = MemoryCredentialsSource({bot: {"dropbox": {"oauth": due}}})
    endpoint = TokenEndpoint(url="https://oauth.invalid/token")
    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)) as http:
        refresher = OAuthRefresher(
            source, client, EntryCipher(os.urandom(32)), http, endpoints=lambda _: endpoint
        )
        renewed = await refresher.refresh(bot, "dropbox", "oauth", due)
        assert grants.valid(renewed["access_token"]) and source.stores == 1
        grants.revoke()
        for _ in range(2):  # the endpoint's refusal, then the mark's
            with pytest.raises(ReauthorisationRequiredError):
                await refresher.refresh(bot, "dropbox", "oauth", {**renewed, "expires_at": 0})
        assert grants.refused == 1
