"""Redis Cluster and Sentinel, over TLS as the least-privilege ACL user, on real redis-servers.

The worker's own client factory (``runtime._redis``) connects in each topology, and every kind of
Redis work the worker does runs through it (:func:`support.redis_work.do_the_redis_work`). On the
cluster, every Lua script in the code base is found and must have run with keys of one slot, so
a new script that spans slots, or one no test runs, fails here. ``claim_replicas`` makes a claim
wait for its replicas, and fails it (to be retried) when they are not there.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoPermissionError

from integrations.redis_types import RedisClient
from processors.idempotency import ClaimState, IdempotencyStore
from processors.redis_client import RedisConfigError, connection_options, login_problem, topology
from processors.redis_scripts import RedisUnavailableError, ScriptRunner
from processors.runtime import _redis, own_hosts
from processors.settings import RedisSettings, Settings
from processors.web import RedisProbe
from support.redis_work import do_the_redis_work
from support.secure_redis import PASSWORD, SecureRedis, sentinel_failover, tls_cluster, tls_sentinel
from support.tls import LocalCA

MASTER = "actionstream"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRedis]:
    with tls_cluster(tmp_path_factory.mktemp("tls-cluster")) as running:
        yield running


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SecureRedis]:
    with tls_sentinel(tmp_path, MASTER) as running:
        yield running


def cluster_settings(cluster: SecureRedis, **changes: Any) -> RedisSettings:
    redis = RedisSettings(
        topology="cluster", nodes=cluster.nodes(2), username="actionstream",
        password=SecretStr(PASSWORD), ssl_ca_certs=cluster.ca.pem,
    )  # fmt: skip
    return redis.model_copy(update=changes)


def sentinel_settings(sentinel: SecureRedis, **changes: Any) -> RedisSettings:
    redis = RedisSettings(
        topology="sentinel", nodes=f"rediss://127.0.0.1:{sentinel.ports[2]}", master_name=MASTER,
        username="actionstream", password=SecretStr(PASSWORD), ssl_ca_certs=sentinel.ca.pem,
    )  # fmt: skip
    return redis.model_copy(update=changes)


@pytest.fixture
async def cluster_client(cluster: SecureRedis) -> AsyncIterator[RedisClient]:
    cluster.flush_cluster()
    client = _redis(Settings(redis=cluster_settings(cluster, claim_replicas=1)))
    yield client
    await client.aclose()


class RecordingRunner(ScriptRunner):
    """A script runner that notes each call's script and keys."""

    def __init__(self, redis: RedisClient, **options: Any) -> None:
        super().__init__(redis, **options)
        self.calls: list[tuple[str, list[bytes | str]]] = []

    async def run(
        self,
        script: Any,
        keys: Sequence[Any],
        args: Sequence[Any],
        *,
        durable: bool = False,
        then: Any = None,
    ) -> Any:
        self.calls.append((script.sha, list(keys)))
        return await super().run(script, keys, args, durable=durable, then=then)


def lua_sources() -> dict[str, str]:
    """Every Lua script in the code base, by SHA-1: module constants that call ``redis.call``
    (less fragments that are part of a longer one, like a shared prelude)."""
    found: dict[str, str] = {}
    texts: dict[str, str] = {}
    for package in ("processors", "integrations"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue  # runs the CLI
            try:
                module = importlib.import_module(info.name)
            except ImportError:  # an optional SDK that is not installed: it has no scripts
                continue
            for name, value in vars(module).items():
                if isinstance(value, str) and "redis.call(" in value:
                    sha = hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()
                    found[sha], texts[sha] = f"{info.name}.{name}", value
    return {
        sha: name
        for sha, name in found.items()
        if not any(texts[sha] in other for key, other in texts.items() if key != sha)
    }


async def test_every_script_runs_with_keys_of_one_slot_on_a_cluster(
    cluster_client: RedisClient,
) -> None:
    assert isinstance(cluster_client, RedisCluster)
    runner = RecordingRunner(cluster_client, replicas=1)
    direct: list[tuple[str, list[Any]]] = []  # scripts called without the runner
    evalsha = cluster_client.evalsha

    def recording_evalsha(sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        direct.append((sha, list(keys_and_args[:numkeys])))
        return evalsha(sha, numkeys, *keys_and_args)

    cluster_client.evalsha = recording_evalsha  # type: ignore[method-assign]
    await do_the_redis_work(cluster_client, runner)

    calls = runner.calls + direct
    sources = lua_sources()
    assert len(sources) >= 7, sources  # idempotency 4, rate limits 2, the OAuth unlock
    never_run = {name for sha, name in sources.items() if sha not in {s for s, _ in calls}}
    assert not never_run, f"add these scripts to support.redis_work: {sorted(never_run)}"
    for sha, keys in calls:
        slots = {key_slot(key.encode() if isinstance(key, str) else key) for key in keys}
        assert len(slots) == 1, f"{sources.get(sha, sha)} spans slots {slots} with {keys}"


async def test_the_worker_does_its_redis_work_on_a_tls_cluster_as_the_acl_user(
    cluster: SecureRedis, cluster_client: RedisClient
) -> None:
    await do_the_redis_work(cluster_client)
    with pytest.raises(NoPermissionError):
        await cluster_client.set("someone-else:key", "x")
    assert await login_problem(cluster_settings(cluster)) is None
    wrong = await login_problem(cluster_settings(cluster, password=SecretStr("not-it")))
    assert wrong and "ACTIONSTREAM_REDIS__USERNAME / ACTIONSTREAM_REDIS__PASSWORD" in wrong
    probe = RedisProbe(cluster_settings(cluster))
    try:
        assert (await probe.check()).ok
    finally:
        await probe.aclose()


async def test_a_claim_waits_for_its_replica_and_fails_without_enough(
    cluster: SecureRedis, cluster_client: RedisClient
) -> None:
    store = IdempotencyStore(
        cluster_client, lease_s=5.0, scripts=ScriptRunner(cluster_client, replicas=1)
    )
    bots = [f"bot-{n}" for n in range(12)]  # over all three masters
    for bot in bots:
        assert (await store.claim(bot, "req", "w1:a")).state is ClaimState.ACQUIRED
    greedy = ScriptRunner(cluster_client, replicas=2, replicas_timeout_ms=50)
    strict = IdempotencyStore(cluster_client, lease_s=5.0, scripts=greedy)
    with pytest.raises(RedisUnavailableError, match=r"did not reach 2 replica\(s\) in 50 ms"):
        await strict.claim("bot-0", "req-2", "w1:a")
    # Retrying with the same owner is safe: the claim was written, the caller just holds it.
    assert (await store.claim("bot-0", "req-2", "w1:a")).state is ClaimState.ACQUIRED


async def test_the_worker_does_its_redis_work_through_a_tls_sentinel_and_follows_a_failover(
    sentinel: SecureRedis,
) -> None:
    settings = sentinel_settings(sentinel, claim_replicas=1)
    client = _redis(Settings(redis=settings))
    try:
        await do_the_redis_work(client)
        with pytest.raises(NoPermissionError):
            await client.set("someone-else:key", "x")
        # A lease far longer than the test: a BUSY answer below can only come from the record.
        store = IdempotencyStore(client, lease_s=600.0, scripts=ScriptRunner(client, replicas=1))
        assert (await store.claim("bot-1", "before", "w1:a")).state is ClaimState.ACQUIRED
        assert await login_problem(settings) is None

        new_master = sentinel_failover(sentinel, MASTER)
        assert new_master == sentinel.ports[1]
        # The claim taken before the failover is on the new master (WAIT saw it replicated).
        # Read without WAIT: the demoted master rejoins as a replica only when the sentinel
        # reconfigures it (15-30 s on these machines), and until then a claim that must reach
        # one replica fails, by name, for the processor to retry.
        served = IdempotencyStore(client, lease_s=600.0, scripts=ScriptRunner(client))
        assert (await served.claim("bot-1", "before", "w2:b")).state is ClaimState.BUSY
        (fresh,) = await asyncio.gather(
            store.claim("bot-1", "after", "w2:b"), return_exceptions=True
        )
        if isinstance(fresh, BaseException):
            assert isinstance(fresh, RedisUnavailableError), fresh
            assert "did not reach 1 replica(s)" in str(fresh)
        else:
            assert fresh.state is ClaimState.ACQUIRED
    finally:
        await client.aclose()


def test_topology_settings_that_cannot_work_are_named_before_connecting(tmp_path: Path) -> None:
    def problem(**fields: Any) -> str:
        with pytest.raises(RedisConfigError) as caught:
            connection_options(RedisSettings(**fields))
        return str(caught.value)

    assert "ACTIONSTREAM_REDIS__TOPOLOGY=cluster needs ACTIONSTREAM_REDIS__NODES" in problem(
        topology="cluster"
    )
    assert "needs ACTIONSTREAM_REDIS__MASTER_NAME" in problem(topology="sentinel", nodes="h:26379")
    assert "'s2': expected host:port" in problem(
        topology="sentinel", nodes="s1:1,s2", master_name="m"
    )
    assert "'h:port': expected host:port" in problem(topology="cluster", nodes="h:port")
    assert "'ftp://h:1': use host:port" in problem(topology="cluster", nodes="ftp://h:1")
    mixed = problem(topology="cluster", nodes="rediss://a:1,b:2")
    assert "mixes rediss:// and plain entries" in mixed
    ca = LocalCA(tmp_path)
    plain = problem(topology="cluster", nodes="a:1", ssl_ca_certs=ca.pem)
    assert "ACTIONSTREAM_REDIS__NODES is not rediss://" in plain
    sentinels = topology(RedisSettings(topology="sentinel", nodes="s1:26379, [::1]:26380",
                                       master_name="m"))  # fmt: skip
    assert not sentinels.tls and sentinels.addresses == (("s1", 26379), ("::1", 26380))
    tls = topology(RedisSettings(topology="cluster", nodes="rediss://n1:7001,rediss://n2:7002"))
    assert tls.tls and tls.addresses == (("n1", 7001), ("n2", 7002))


def test_no_tenant_url_may_reach_the_redis_nodes() -> None:
    redis = RedisSettings(topology="cluster", nodes="redis-a.internal:7001,redis-b.internal:7002")
    hosts = own_hosts(Settings(redis=redis))
    assert {"redis-a.internal", "redis-b.internal"} <= set(hosts)
