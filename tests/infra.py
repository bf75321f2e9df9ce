"""Find the real Kafka broker and Redis the tests run against.

Order: explicit environment (``ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS``, ``ACTIONSTREAM_REDIS__URL``)
→ testcontainers (only when a Docker daemon answers) → the local stack script
(``deploy/local/stack.sh up``). When nothing works, :class:`InfraUnavailable` says what was tried;
fixtures turn it into a test failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
STACK_SCRIPT = REPO / "deploy" / "local" / "stack.sh"
KAFKA_ENV = "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS"
REDIS_ENV = "ACTIONSTREAM_REDIS__URL"


class InfraUnavailable(RuntimeError):
    """No way to get a service worked; the message lists every attempt."""


@dataclass
class Attempts:
    service: str
    tried: list[str] = field(default_factory=list)

    def fail(self) -> InfraUnavailable:
        lines = "\n".join(f"  - {t}" for t in self.tried)
        return InfraUnavailable(
            f"No {self.service} for the tests. Tried, in order:\n{lines}\n"
            f"Fix: run `make up` (starts a local Kafka and Redis), or set {KAFKA_ENV} / "
            f"{REDIS_ENV} to a reachable service."
        )


def tcp_answers(host: str, port: int, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _first_host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _stack_up() -> str:
    done = subprocess.run(
        ["bash", str(STACK_SCRIPT), "up"], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {(done.stdout + done.stderr)[-1500:]}")
    return done.stdout


def find_kafka(
    environ: dict[str, str] | None = None,
    *,
    containers: Callable[[], str] | None = None,
) -> str:
    """Return a bootstrap address of a broker that answers, or raise InfraUnavailable."""
    env = os.environ if environ is None else environ
    attempts = Attempts("Kafka broker")
    explicit = env.get(KAFKA_ENV)
    if explicit:
        host, port = _first_host_port(explicit)
        if tcp_answers(host, port):
            return explicit
        attempts.tried.append(f"{KAFKA_ENV}={explicit}: nothing answers on {host}:{port}")
        raise attempts.fail()  # an explicit address is a decision; never silently replace it
    attempts.tried.append(f"{KAFKA_ENV}: not set")
    if docker_answers():
        try:
            return (containers or _kafka_container)()
        except Exception as exc:  # report every route's failure together
            attempts.tried.append(f"testcontainers: {exc!r}")
    else:
        attempts.tried.append("testcontainers: no Docker daemon answers `docker info`")
    port = int(env.get("KAFKA_PORT", "9092"))
    try:
        _stack_up()
        if tcp_answers("127.0.0.1", port):
            return f"127.0.0.1:{port}"
        attempts.tried.append(f"{STACK_SCRIPT} up: ran, but 127.0.0.1:{port} does not answer")
    except Exception as exc:
        attempts.tried.append(f"{STACK_SCRIPT} up: {exc}")
    raise attempts.fail()


def find_redis(environ: dict[str, str] | None = None) -> str:
    """Return a Redis URL that answers, or raise InfraUnavailable."""
    env = os.environ if environ is None else environ
    attempts = Attempts("Redis")
    explicit = env.get(REDIS_ENV)
    if explicit:
        parsed = urlparse(explicit)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        if tcp_answers(host, port):
            return explicit
        attempts.tried.append(f"{REDIS_ENV}={explicit}: nothing answers on {host}:{port}")
        raise attempts.fail()
    attempts.tried.append(f"{REDIS_ENV}: not set")
    if docker_answers():
        try:
            return _redis_container()
        except Exception as exc:
            attempts.tried.append(f"testcontainers: {exc!r}")
    else:
        attempts.tried.append("testcontainers: no Docker daemon answers `docker info`")
    port = int(env.get("REDIS_PORT", "6379"))
    try:
        _stack_up()
        if tcp_answers("127.0.0.1", port):
            return f"redis://127.0.0.1:{port}/0"
        attempts.tried.append(f"{STACK_SCRIPT} up: ran, but 127.0.0.1:{port} does not answer")
    except Exception as exc:
        attempts.tried.append(f"{STACK_SCRIPT} up: {exc}")
    raise attempts.fail()


_containers: list[object] = []


def _kafka_container() -> str:
    from testcontainers.kafka import KafkaContainer

    container = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    container.start()
    _containers.append(container)
    return str(container.get_bootstrap_server())


def _redis_container() -> str:
    from testcontainers.redis import RedisContainer

    container = RedisContainer("redis:7-alpine")
    container.start()
    _containers.append(container)
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return f"redis://{host}:{port}/0"


def stop_containers() -> None:
    while _containers:
        container = _containers.pop()
        container.stop()  # type: ignore[attr-defined]
