"""deploy/local/stack.sh cluster: 3 masters + 3 replicas, failover to a replica, rejoin, and `down`
stops exactly what `up` started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from redis.cluster import ClusterNode, RedisCluster

from infra import tcp_answers
from support.redis_cluster import RedisClusterStack, free_port_block

pytestmark = pytest.mark.timeout(300)

KEYS = {f"cluster-key-{i}": f"value-{i}" for i in range(60)}


def _ours(*marks: str) -> list[str]:
    """Processes whose command line contains one of the marks (state dir, node addresses)."""
    done = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if any(m in line for m in marks)]


def _client(stack: RedisClusterStack) -> RedisCluster:
    seeds = [ClusterNode(host, port) for host, port in stack.nodes[:3]]  # type: ignore[no-untyped-call]
    return RedisCluster(
        startup_nodes=seeds, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
    )


def _roles(status_stdout: str) -> dict[int, str]:
    """``127.0.0.1:PORT master|replica pid N`` lines of `cluster status`, as port -> role."""
    roles: dict[int, str] = {}
    for line in status_stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] == "pid" and fields[1] in ("master", "replica"):
            roles[int(fields[0].rpartition(":")[2])] = fields[1]
    return roles


def _assert_keys_readable(stack: RedisClusterStack) -> None:
    with _client(stack) as client:
        assert {key: client.get(key) for key in KEYS} == KEYS


def test_cluster_up_failover_rejoin_down(tmp_path: Path) -> None:
    stack = RedisClusterStack(tmp_path / "stack", free_port_block())
    ports = [port for _, port in stack.nodes]
    marks = (str(tmp_path), *(f"redis-server 127.0.0.1:{port} " for port in ports))
    addresses = ",".join(f"127.0.0.1:{port}" for port in ports)
    expected_line = f"redis-cluster: {addresses} (3 masters, 3 replicas, redis-server 7."
    try:
        first = stack.run("up")
        assert first.stdout.startswith(expected_line), first.stdout + first.stderr
        assert len(first.stdout.splitlines()) == 1
        assert all(tcp_answers("127.0.0.1", port) for port in ports)
        processes = _ours(*marks)
        assert len(processes) == 6, processes

        second = stack.run("up")
        assert second.stdout == first.stdout
        assert "all 6 nodes already running" in second.stderr
        assert _ours(*marks) == processes, "a second `cluster up` started something new"
        pids = {port: stack.pid(port) for port in ports}

        status = stack.run("status", check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        roles = _roles(status.stdout)
        assert sorted(roles.values()) == ["master"] * 3 + ["replica"] * 3, status.stdout

        with _client(stack) as client:
            for key, value in KEYS.items():
                assert client.set(key, value)
            assert {key: client.get(key) for key in KEYS} == KEYS
        masters = {port for port, role in roles.items() if role == "master"}
        assert {stack.master_of(key) for key in KEYS} == masters, "keys should span all 3 masters"

        victim = stack.master_of("cluster-key-0")
        (heir,) = stack.replicas(victim)
        stack.wait_replicated(victim)
        killed_at = time.monotonic()
        assert stack.kill_master(victim) == pids[victim]
        new_master = stack.wait_failover("cluster-key-0", victim, timeout_s=30)
        failover_s = time.monotonic() - killed_at
        assert new_master == heir, f"{new_master} took over, not the replica {heir}"
        print(f"failover of 127.0.0.1:{victim} to 127.0.0.1:{heir} took {failover_s:.1f} s")
        _assert_keys_readable(stack)

        degraded = stack.run("status", check=False)
        assert degraded.returncode == 3, degraded.stdout
        assert f"127.0.0.1:{victim} not running" in degraded.stdout

        stack.restart_node(victim)
        status = stack.run("status", check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        roles = _roles(status.stdout)
        assert roles[victim] == "replica", status.stdout
        assert roles[heir] == "master", status.stdout
        assert stack.replicas(heir) == [victim]
        restarted = {port: stack.pid(port) for port in ports}
        assert restarted[victim] != pids[victim]
        assert {p: v for p, v in restarted.items() if p != victim} == {
            p: v for p, v in pids.items() if p != victim
        }, "restarting the dead node must leave the others alone"
        _assert_keys_readable(stack)

        down = stack.run("down")
        assert _ours(*marks) == [], down.stderr
        assert not any(tcp_answers("127.0.0.1", port) for port in ports)
        assert stack.run("status", check=False).returncode == 3
        data = stack.state_dir / "redis-cluster"
        assert all((data / str(port) / "nodes.conf").is_file() for port in ports)

        # `down` keeps the data: `up` brings back the same cluster (no re-create) and its keys.
        again = stack.run("up")
        assert again.stdout == first.stdout
        assert "creating the cluster" not in again.stderr
        assert "rejoins from" in again.stderr
        _assert_keys_readable(stack)
        stack.flushall()
        with _client(stack) as client:
            assert client.dbsize() == 0
    finally:
        reset = stack.run("reset", check=False)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert _ours(*marks) == []
    assert not (stack.state_dir / "redis-cluster").exists()
