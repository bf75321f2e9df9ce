"""Redis over TLS as an ACL user with only what actionstream needs, on a real redis-server.

The server is started here: TLS only (no plaintext port), a CA of the test's own, and the ACL
user the README documents. The worker's own client factory connects as that user, and the
idempotency store, the rate limiter and the credentials cache each do their work through it;
what the user may not do (another key space, FLUSHDB) is refused; a wrong password and an
untrusted CA give the readiness probe a clear reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import NoPermissionError

from infra import REPO
from integrations.base import IntegrationMetadata
from integrations.credentials import EntryCipher, MemoryCredentialsSource, generate_key
from integrations.credentials.cache import Cached, CredentialsCache
from integrations.credentials.errors import ReauthorisationRequiredError
from integrations.credentials.keys import make_key
from integrations.credentials.oauth import TokenEndpoint
from integrations.credentials.refresh import OAuthRefresher
from integrations.credentials.testing import TokenGrants
from integrations.telegram.client import TELEGRAM_RATE_LIMITS
from processors.idempotency import ClaimState, IdempotencyStore
from processors.ratelimit import RateLimiter
from processors.redis_client import connection_options, login_problem
from processors.runtime import _redis
from processors.settings import RedisSettings, Settings
from processors.web import RedisProbe
from support.pipeline import free_port
from support.tls import LocalCA

PASSWORD = "acl-user-secret-7d1e"
# What the README's Redis section says an actionstream user needs (keep the two the same).
ACL_USER = (
    f"actionstream on >{PASSWORD} ~actionstream:* resetchannels -@all "
    "+ping +get +set +del +sadd +smembers +pexpire +evalsha +script|load "
    "+time +hset +hmget +hdel"
)


@dataclass
class TlsRedis:
    url: str
    ca: LocalCA


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (the local stack installs it: make up)"
    ca = LocalCA(tmp_path)
    issued = ca.issue("redis", hosts=("127.0.0.1", "localhost"))
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(issued.cert), "--tls-key-file", str(issued.key),
         "--tls-ca-cert-file", str(ca.pem), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
         "--user", "default", "off", "--user", *ACL_USER.split()],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(100):
            if proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield TlsRedis(f"rediss://127.0.0.1:{port}/0", ca)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def settings_for(tls: TlsRedis, **changes: object) -> Settings:
    redis = RedisSettings(
        url=tls.url, username="actionstream", password=SecretStr(PASSWORD), ssl_ca_certs=tls.ca.pem
    )
    return Settings(redis=redis.model_copy(update=changes))


@pytest.fixture
async def client(tls_redis: TlsRedis) -> AsyncIterator[aioredis.Redis]:
    redis = _redis(settings_for(tls_redis))
    yield redis
    await redis.aclose()


async def test_the_worker_does_its_redis_work_as_the_documented_acl_user(
    client: aioredis.Redis,
) -> None:
    store = IdempotencyStore(client, lease_s=5.0)
    assert (await store.claim("bot-1", "req-1", "w1:a")).state is ClaimState.ACQUIRED
    assert await store.renew("bot-1", "req-1", "w1:a")
    assert await store.complete("bot-1", "req-1", "w1:a", b"result")
    assert (await store.claim("bot-1", "req-1", "w2:b")).state is ClaimState.DONE
    assert await store.claim("bot-1", "req-2", "w1:a")
    assert await store.release("bot-1", "req-2", "w1:a", outcome_unknown=True)

    limiter = RateLimiter(client, fingerprint_key=b"k" * 32)
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

    # Least privilege: nothing outside actionstream's keys, no admin commands.
    with pytest.raises(NoPermissionError):
        await client.set("someone-else:key", "x")
    with pytest.raises(NoPermissionError):
        await client.flushdb()


async def test_the_probe_names_a_refused_password_and_an_untrusted_ca(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    good = RedisProbe(settings_for(tls_redis).redis)
    wrong = RedisProbe(settings_for(tls_redis, password=SecretStr("not-it")).redis)
    other = LocalCA(tmp_path, name="untrusted CA")
    untrusted = RedisProbe(settings_for(tls_redis, ssl_ca_certs=other.pem).redis)
    try:
        assert (await good.check()).ok
        refused = await wrong.check()
        assert not refused.ok and "ACTIONSTREAM_REDIS__USERNAME/PASSWORD" in refused.detail
        unverified = await untrusted.check()
        assert not unverified.ok and "certificate verify failed" in unverified.detail
    finally:
        await asyncio.gather(good.aclose(), wrong.aclose(), untrusted.aclose())


def test_tls_files_without_rediss_are_refused_before_connecting(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    with pytest.raises(ValueError, match="ACTIONSTREAM_REDIS__SSL_CA_CERTS is set but"):
        connection_options(RedisSettings(url="redis://127.0.0.1:6379/0", ssl_ca_certs=ca.pem))
    with pytest.raises(ValueError, match=r"ACTIONSTREAM_REDIS__SSL_CA_CERTS=/no/ca\.pem: no such"):
        connection_options(RedisSettings(url="rediss://h:6379/0", ssl_ca_certs=Path("/no/ca.pem")))


async def test_a_refused_login_is_found_before_the_worker_starts(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    """What ``actionstream worker`` checks first (one line, exit 1); a Redis that is down is
    not a refusal: the worker waits for it."""
    assert await login_problem(settings_for(tls_redis).redis) is None
    wrong = await login_problem(settings_for(tls_redis, password=SecretStr("not-it")).redis)
    assert wrong and "ACTIONSTREAM_REDIS__USERNAME / ACTIONSTREAM_REDIS__PASSWORD" in wrong
    other = LocalCA(tmp_path, name="untrusted CA")
    untrusted = await login_problem(settings_for(tls_redis, ssl_ca_certs=other.pem).redis)
    assert untrusted and "ACTIONSTREAM_REDIS__SSL_CA_CERTS" in untrusted
    down = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")
    assert await login_problem(down, timeout_s=1.0) is None


def test_a_worker_refused_by_redis_says_so_in_one_line_and_exits_1(tls_redis: TlsRedis) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")}
    env |= {
        "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY": generate_key(),
        # A Kafka that does not answer yet is waited for; a refusing Redis is not.
        "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "ACTIONSTREAM_REDIS__URL": tls_redis.url,
        "ACTIONSTREAM_REDIS__USERNAME": "actionstream",
        "ACTIONSTREAM_REDIS__PASSWORD": "not-it",
        "ACTIONSTREAM_REDIS__SSL_CA_CERTS": str(tls_redis.ca.pem),
    }
    done = subprocess.run(
        [sys.executable, "-m", "processors", "worker"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    (line,) = lines
    assert line.startswith("error: Redis refused ACTIONSTREAM_REDIS__USERNAME"), line
