"""deploy/local/stack.sh: idempotent `up`, and `down` stops exactly what it started."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from infra import REPO, STACK_SCRIPT, tcp_answers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ours(*marks: str) -> list[str]:
    """Processes whose command line contains one of the marks (state dir, redis address)."""
    done = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if any(m in line for m in marks)]


def test_up_twice_then_down_leaves_nothing_running(tmp_path: Path) -> None:
    kafka_port, controller_port, redis_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "STATE_DIR": str(tmp_path / "stack"),
        # share the jar cache of the main local stack so this test does not download again
        "KAFKA_LIB_DIR": str(REPO / ".local" / "stack" / "kafka-lib"),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "REDIS_PORT": str(redis_port),
        "KAFKA_SASL_SSL_PORT": str(_free_port()),
    }

    def stack(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(STACK_SCRIPT), command],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )

    marks = (str(tmp_path), f"redis-server 127.0.0.1:{redis_port}")
    try:
        first = stack("up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"kafka: 127.0.0.1:{kafka_port} (Apache Kafka 4." in first.stdout
        assert f"redis: redis://127.0.0.1:{redis_port}/0 (redis-server" in first.stdout
        assert tcp_answers("127.0.0.1", kafka_port)
        assert tcp_answers("127.0.0.1", redis_port)
        pids_before = _ours(*marks)

        second = stack("up")
        assert second.returncode == 0, second.stdout + second.stderr
        assert _ours(*marks) == pids_before, "a second `up` started something new"
        assert stack("status").returncode == 0
    finally:
        down = stack("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _ours(*marks) == []
    assert not tcp_answers("127.0.0.1", kafka_port)
    assert not tcp_answers("127.0.0.1", redis_port)
    assert stack("status").returncode == 3
