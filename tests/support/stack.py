"""A private Kafka + Redis from deploy/local/stack.sh, for tests that restart them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra import REPO, STACK_SCRIPT, tcp_answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateStack:
    """Its own state dir and ports; shares the jar cache of the main local stack."""

    state_dir: Path
    kafka_port: int
    controller_port: int
    redis_port: int
    sasl_ssl_port: int

    @classmethod
    def create(cls, state_dir: Path) -> PrivateStack:
        return cls(state_dir, free_port(), free_port(), free_port(), free_port())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def run(self, command: str) -> str:
        env = {
            **os.environ,
            "STATE_DIR": str(self.state_dir),
            "KAFKA_LIB_DIR": str(REPO / ".local" / "stack" / "kafka-lib"),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "REDIS_PORT": str(self.redis_port),
            "KAFKA_SASL_SSL_PORT": str(self.sasl_ssl_port),
        }
        done = subprocess.run(
            ["bash", str(STACK_SCRIPT), command],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if command != "status" and done.returncode != 0:
            raise RuntimeError(f"stack.sh {command} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def stop(self, service: str, *, sig: int = signal.SIGTERM, timeout_s: float = 60) -> None:
        """Stop one service (``kafka`` or ``redis``) the way an outage would."""
        pid = int((self.state_dir / f"{service}.pid").read_text())
        os.kill(pid, sig)
        port = self.kafka_port if service == "kafka" else self.redis_port
        deadline = time.monotonic() + timeout_s
        while tcp_answers("127.0.0.1", port, timeout_s=0.2) or _alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} (pid {pid}) did not stop")
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()
