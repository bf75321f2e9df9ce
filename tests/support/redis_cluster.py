"""A private Redis Cluster (3 masters + 3 replicas) from `deploy/local/stack.sh cluster`, for tests
that kill masters and watch their replicas take over."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from infra import STACK_SCRIPT, tcp_answers
from processors.settings import RedisSettings, Settings

HOST = "127.0.0.1"
CLUSTER_SIZE = 6
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000


@dataclass(frozen=True)
class _NodeView:
    """One line of `CLUSTER NODES`, as some node sees it."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    slots: tuple[tuple[int, int], ...]

    @property
    def serving_master(self) -> bool:
        return "master" in self.flags and not self.flags & {"fail", "fail?", "handshake", "noaddr"}

    def serves(self, slot: int) -> bool:
        return self.serving_master and any(lo <= slot <= hi for lo, hi in self.slots)


@dataclass
class RedisClusterStack:
    """Its own STATE_DIR; 6 consecutive ports from ``base_port`` (see :func:`free_port_block`)."""

    state_dir: Path
    base_port: int

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [(HOST, self.base_port + i) for i in range(CLUSTER_SIZE)]

    def seeds(self) -> str:
        """The first three nodes, as ``ACTIONSTREAM_REDIS__NODES`` wants them."""
        return ",".join(f"{host}:{port}" for host, port in self.nodes[:3])

    def run(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``stack.sh cluster COMMAND`` for this stack; with ``check``, a non-zero exit fails."""
        env = {
            **os.environ,
            "STATE_DIR": str(self.state_dir),
            "REDIS_CLUSTER_PORT": str(self.base_port),
        }
        done = subprocess.run(
            ["bash", str(STACK_SCRIPT), "cluster", command],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"stack.sh cluster {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def up(self) -> None:
        self.run("up")

    def down(self) -> None:
        """Stop the nodes and delete their data (``cluster reset``)."""
        self.run("reset")

    def pid(self, port: int) -> int:
        return int((self.state_dir / "redis-cluster" / f"{port}.pid").read_text())

    def client(self, port: int) -> redis.Redis:
        """A plain (non-cluster) client on one node; the caller closes it."""
        return redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2)

    def live_ports(self) -> list[int]:
        return [port for _, port in self.nodes if tcp_answers(HOST, port, timeout_s=0.5)]

    def role(self, port: int) -> str:
        """``master`` or ``replica``, as the node itself reports it."""
        with self.client(port) as node:
            role = str(node.info("replication")["role"])
        return "replica" if role == "slave" else role

    def replicas(self, port: int) -> list[int]:
        """Ports of the replicas attached to master ``port``."""
        with self.client(port) as node:
            info = node.info("replication")
        return [int(entry["port"]) for entry in _replica_entries(info)]

    def wait_replicated(self, port: int, timeout_s: float = 10) -> None:
        """Until every replica of master ``port`` has acknowledged all of its writes."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.client(port) as node:
                info = node.info("replication")
            offsets = [int(entry["offset"]) for entry in _replica_entries(info)]
            if offsets and min(offsets) >= int(info["master_repl_offset"]):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas of 127.0.0.1:{port} did not catch up: {info}")
            time.sleep(0.05)

    def _view(self, port: int) -> list[_NodeView]:
        with self.client(port) as node:
            raw = node.execute_command("CLUSTER", "NODES")  # split: no reply parsing
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return [_parse_node_line(line) for line in text.splitlines() if line.strip()]

    def _cluster_ok(self, port: int) -> bool:
        with self.client(port) as node:
            raw = node.execute_command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return "cluster_state:ok" in text

    def _owner(self, port: int, slot: int) -> int | None:
        """Port of the master serving ``slot`` in node ``port``'s view."""
        return next((n.port for n in self._view(port) if n.serves(slot)), None)

    def master_of(self, key: bytes | str) -> int:
        """Port of the master currently serving ``key``'s slot (asked of the first live node)."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        for port in self.live_ports():
            owner = self._owner(port, slot)
            if owner is not None:
                return owner
        raise AssertionError(f"no live node knows a master for slot {slot}")

    def kill_master(self, port: int) -> int:
        """SIGKILL master ``port`` (pid file) and wait until it is gone; returns the pid."""
        assert self.role(port) == "master", f"127.0.0.1:{port} is not a master"
        pid = self.pid(port)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) or tcp_answers(HOST, port, timeout_s=0.2):
            if time.monotonic() > deadline:
                raise TimeoutError(f"127.0.0.1:{port} (pid {pid}) still runs after SIGKILL")
            time.sleep(0.05)
        return pid

    def wait_failover(
        self, slot_or_key: int | bytes | str, old_port: int, timeout_s: float = 30
    ) -> int:
        """Until every live node agrees that a node other than ``old_port`` serves the slot, that
        node is a master, and every live node says ``cluster_state:ok``; returns its port."""
        if isinstance(slot_or_key, int):
            slot = slot_or_key
        else:
            raw = slot_or_key.encode() if isinstance(slot_or_key, str) else slot_or_key
            slot = key_slot(raw)
        deadline = time.monotonic() + timeout_s
        seen: dict[int, int | None] = {}
        while True:
            try:
                live = [p for p in self.live_ports() if p != old_port]
                seen = {p: self._owner(p, slot) for p in live}
                owners = set(seen.values())
                if len(owners) == 1:
                    owner = owners.pop()
                    if (
                        owner is not None
                        and owner != old_port
                        and self.role(owner) == "master"
                        and all(self._cluster_ok(p) for p in live)
                    ):
                        return owner
            except redis.RedisError:
                pass  # a node in the middle of a state change; ask again
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no failover of slot {slot} away from 127.0.0.1:{old_port} within "
                    f"{timeout_s} s; owner per live node: {seen}"
                )
            time.sleep(0.1)

    def restart_node(self, port: int) -> None:
        """``cluster up`` again: restarts the dead node; an old master rejoins as a replica."""
        self.up()
        assert tcp_answers(HOST, port), f"127.0.0.1:{port} did not come back"

    def flushall(self) -> None:
        """FLUSHALL on every live master."""
        for port in self.live_ports():
            if self.role(port) == "master":
                with self.client(port) as node:
                    node.flushall()


def on_cluster(stack: RedisClusterStack, **changes: object) -> Callable[[Settings], Settings]:
    """A ``running_pipeline(adjust=...)`` that points the worker at ``stack``."""

    def adjust(settings: Settings) -> Settings:
        redis = RedisSettings(topology="cluster", nodes=stack.seeds()).model_copy(update=changes)
        return settings.model_copy(update={"redis": redis})

    return adjust


def _replica_entries(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``slaveN`` entries of a master's ``INFO replication`` (redis-py parses them to dicts)."""
    return [v for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()]


def _parse_node_line(line: str) -> _NodeView:
    # <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
    fields = line.split()
    address = fields[1].split("@", 1)[0]
    slots: list[tuple[int, int]] = []
    for item in fields[8:]:
        if item.startswith("["):  # a slot being migrated or imported
            continue
        lo, _, hi = item.partition("-")
        slots.append((int(lo), int(hi or lo)))
    return _NodeView(
        node_id=fields[0],
        port=int(address.rpartition(":")[2]),
        flags=frozenset(fields[2].split(",")),
        master_id=None if fields[3] == "-" else fields[3],
        slots=tuple(slots),
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (pid 1 may take a while to reap it).
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    """Start of the kernel's ephemeral port range: outgoing connections may take any port above."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(count: int = CLUSTER_SIZE) -> int:
    """A base port where ``count`` consecutive ports and their cluster bus ports (+10000) are free
    on 127.0.0.1. Bases lie above 20000 and, so that port + 10000 stays valid, below 50000; below
    the ephemeral range if it leaves room, so an outgoing connection cannot take one meanwhile."""
    high = 50000 - count
    if 20001 + 100 < _ephemeral_low() - count <= high:
        high = _ephemeral_low() - count
    rng = random.SystemRandom()
    for _ in range(500):
        base = rng.randrange(20001, high)
        if all(_bindable(p) and _bindable(p + BUS_OFFSET) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no block of {count} free ports (+ bus ports) between 20001 and {high}")
