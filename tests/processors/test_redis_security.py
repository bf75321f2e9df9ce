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

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.exceptions import NoPermissionError

from infra import REPO
from integrations.credentials import generate_key
from processors.redis_client import connection_options, login_problem
from processors.runtime import _redis
from processors.settings import RedisSettings, Settings
from processors.web import RedisProbe
from support.pipeline import free_port
from support.redis_work import do_the_redis_work
from support.secure_redis import ACL_USER, PASSWORD
from support.tls import LocalCA


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
    await do_the_redis_work(client)

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
