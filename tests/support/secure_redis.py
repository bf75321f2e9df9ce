"""Real redis-servers over TLS with ACL users, in the two topologies beyond a single server.

:func:`tls_cluster` starts a Redis Cluster (3 masters, 3 replicas, TLS on clients, the cluster
bus and replication) and :func:`tls_sentinel` a master, its replica and one sentinel, both in a
test's folder with a CA of its own. The default user is off: an ``admin`` user creates the
cluster and replicates, and ``actionstream`` is the least-privilege user the README documents
(:data:`ACL_USER`, plus what each topology's client needs).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.tls import Issued, LocalCA

PASSWORD = "acl-user-secret-7d1e"
ADMIN_PASSWORD = "admin-secret-51c9"
# What the README's Redis section says an actionstream user needs (keep the two the same).
ACL_USER = (
    f"actionstream on >{PASSWORD} ~actionstream:* resetchannels -@all "
    "+ping +get +set +del +sadd +smembers +pexpire +evalsha +script|load "
    "+time +hset +hmget +hdel"
)
# Beyond ACL_USER: a cluster client reads the slot map and the command table; WAIT for
# ACTIONSTREAM_REDIS__CLAIM_REPLICAS.
ACL_CLUSTER = "+cluster|slots +cluster|shards +cluster|nodes +command +wait"
ACL_SENTINEL = "+wait +role"
ADMIN = f"admin on >{ADMIN_PASSWORD} ~* &* +@all"


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` free loopback ports (and, with ``bus``, port + 10000 free too)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port in ports or (bus and (port > 55_000 or not _free(port + 10_000))):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class SecureRedis:
    """Addresses and material of a running TLS + ACL topology."""

    ca: LocalCA
    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def nodes(self, count: int | None = None) -> str:
        """``rediss://127.0.0.1:P,…`` for the first ``count`` ports (all by default)."""
        return ",".join(f"rediss://127.0.0.1:{port}" for port in self.ports[:count])

    def flush_cluster(self) -> None:
        """FLUSHALL on every master of the cluster."""
        live = next(port for port, proc in self.processes.items() if proc.poll() is None)
        _cli(self.ca, live, "--cluster", "call", f"127.0.0.1:{live}", "FLUSHALL",
             "--cluster-only-masters")  # fmt: skip

    def kill(self, port: int) -> None:
        self.processes[port].kill()
        self.processes[port].wait(timeout=10)


def _server(
    folder: Path, ca: LocalCA, issued: Issued, port: int, *extra: str, sentinel: str = ""
) -> list[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed (the local stack installs it: make up)"
    tls = [
        "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(issued.cert), "--tls-key-file", str(issued.key),
        "--tls-ca-cert-file", str(ca.pem), "--tls-auth-clients", "no",
        "--tls-replication", "yes", "--dir", str(folder),
    ]  # fmt: skip
    if sentinel:
        conf = folder / "sentinel.conf"
        conf.write_text(sentinel)  # sentinel rewrites it, so it must be a file
        return [server, str(conf), "--sentinel", *tls, *extra]
    users = ["--user", "default", "off", "--user", *ADMIN.split()]
    return [server, *tls, "--save", "", "--appendonly", "no", *users, *extra]


def _start(argv: list[str], folder: Path, port: int) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "redis.log").open("ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"redis-server on {port} exited with {proc.returncode}: "
                + (folder / "redis.log").read_text()[-2000:]
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"redis-server on {port} did not open its port in 15 s")


def _cli(ca: LocalCA, port: int, *args: str, timeout: float = 60) -> str:
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli is not installed (it comes with redis-server)"
    done = subprocess.run(
        [cli, "--tls", "--cacert", str(ca.pem), "-h", "127.0.0.1", "-p", str(port),
         "--user", "admin", "--pass", ADMIN_PASSWORD, "--no-auth-warning", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _wait_for(what: str, check: object, timeout_s: float = 30) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def tls_cluster(folder: Path) -> Iterator[SecureRedis]:
    """A 3-master, 3-replica Redis Cluster over TLS; ``ports[:3]`` were created as masters."""
    ca = LocalCA(folder)
    issued = ca.issue("redis", hosts=("127.0.0.1", "localhost"))
    topology = SecureRedis(ca, free_ports(6, bus=True))
    acl = ["--user", *ACL_USER.split(), *ACL_CLUSTER.split()]
    cluster = [
        "--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--tls-cluster", "yes",
        "--masteruser", "admin", "--masterauth", ADMIN_PASSWORD,
    ]  # fmt: skip
    with ExitStack() as stack:
        for port in topology.ports:
            node = folder / f"node-{port}"
            argv = _server(node, ca, issued, port, *cluster, *acl)
            topology.processes[port] = _start(argv, node, port)
            stack.callback(_stop, topology.processes[port])
        addresses = [f"127.0.0.1:{port}" for port in topology.ports]
        _cli(ca, topology.ports[0], "--cluster", "create", *addresses,
             "--cluster-replicas", "1", "--cluster-yes")  # fmt: skip

        def ready() -> bool:
            infos = [_cli(ca, port, "cluster", "info") for port in topology.ports]
            roles = [_cli(ca, port, "info", "replication") for port in topology.ports]
            synced = ["master_link_status:up" in role for role in roles if "role:slave" in role]
            return all("cluster_state:ok" in info for info in infos) and synced.count(True) == 3

        _wait_for("the TLS cluster to be ok and its replicas in sync", ready)
        yield topology


@contextmanager
def tls_sentinel(folder: Path, master_name: str = "actionstream") -> Iterator[SecureRedis]:
    """A master (``ports[0]``), its replica (``ports[1]``) and a sentinel (``ports[2]``)."""
    ca = LocalCA(folder)
    issued = ca.issue("redis", hosts=("127.0.0.1", "localhost"))
    topology = SecureRedis(ca, free_ports(3))
    master, replica, sentinel = topology.ports
    acl = ["--user", *ACL_USER.split(), *ACL_SENTINEL.split()]
    follow = ["--masteruser", "admin", "--masterauth", ADMIN_PASSWORD]
    with ExitStack() as stack:
        for port, extra in (
            (master, [*acl, *follow]),
            (replica, [*acl, *follow, "--replicaof", "127.0.0.1", str(master)]),
        ):
            node = folder / f"node-{port}"
            topology.processes[port] = _start(_server(node, ca, issued, port, *extra), node, port)
            stack.callback(_stop, topology.processes[port])
        _wait_for(
            "the replica to sync",
            lambda: "master_link_status:up" in _cli(ca, replica, "info", "replication"),
        )
        node = folder / f"sentinel-{sentinel}"
        node.mkdir()
        monitor = (
            f"sentinel monitor {master_name} 127.0.0.1 {master} 1\n"
            f"sentinel auth-user {master_name} admin\n"
            f"sentinel auth-pass {master_name} {ADMIN_PASSWORD}\n"
            f"sentinel down-after-milliseconds {master_name} 1000\n"
            f"sentinel failover-timeout {master_name} 3000\n"
        )
        argv = _server(node, ca, issued, sentinel, sentinel=monitor)
        topology.processes[sentinel] = _start(argv, node, sentinel)
        stack.callback(_stop, topology.processes[sentinel])

        def knows_replica() -> bool:
            out = _sentinel_cli(ca, sentinel, "sentinel", "replicas", master_name)
            return str(replica) in out

        _wait_for("the sentinel to find the replica", knows_replica)
        yield topology


def _sentinel_cli(ca: LocalCA, port: int, *args: str) -> str:
    cli = shutil.which("redis-cli")
    assert cli
    done = subprocess.run(
        [cli, "--tls", "--cacert", str(ca.pem), "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sentinel_failover(topology: SecureRedis, master_name: str = "actionstream") -> int:
    """Ask the sentinel to promote the replica; the new master's port once it serves."""
    _, replica, sentinel = topology.ports
    _sentinel_cli(topology.ca, sentinel, "sentinel", "failover", master_name)

    def promoted() -> bool:
        out = _sentinel_cli(
            topology.ca, sentinel, "sentinel", "get-master-addr-by-name", master_name
        )
        return str(replica) in out and "role:master" in _cli(
            topology.ca, replica, "info", "replication"
        )

    _wait_for("the sentinel's failover", promoted)
    return replica


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
