"""The processes a benchmark runs: start with a readiness mark, pause/resume, peak RSS, stop.

Every process gets ``tests/`` and the repository on ``PYTHONPATH``, no inherited ``ACTIONSTREAM_*``
variables, its output in a log file, and a working directory of its own (Faust writes a
``<app id>-data`` directory into it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAUST_READY = "[^Worker]: Ready"


class BenchError(RuntimeError):
    """A benchmark could not measure what it claims to (a process died, a result is missing)."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]),
        PYTHONUNBUFFERED="1",
        PTB_TIMEDELTA="1",
    )
    env.update(extra or {})
    return env


@dataclass
class Proc:
    """One child process whose output goes to ``log_path``."""

    name: str
    argv: Sequence[str]
    log_path: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=child_env)
    popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def python_module(
        cls, name: str, module: str, args: Sequence[str], *, workdir: Path, env: dict[str, str]
    ) -> Proc:
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", module, *args]
        return cls(name, argv, workdir / f"{name}.log", workdir, env)

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError(f"{self.name} is not started")
        return self.popen.pid

    def start(self, *, ready_mark: str, timeout_s: float = 90.0) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.popen.returncode} before it was ready:\n"
                    f"{self.tail()}"
                )
            if ready_mark in self.logs():
                return
            time.sleep(0.1)
        self.kill()
        raise BenchError(f"{self.name} not ready after {timeout_s}s:\n{self.tail()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            code = None if self.popen is None else self.popen.returncode
            raise BenchError(f"{self.name} died (exit {code}):\n{self.tail()}")

    def pause(self) -> None:
        """SIGSTOP: the process stays in its consumer group but takes no CPU."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def peak_rss_kb(self) -> int:
        """``VmHWM``: the process's peak resident set size so far, in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise BenchError(f"no VmHWM in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, *, timeout_s: float = 60.0) -> int:
        """SIGTERM (after a SIGCONT, in case it is paused) and wait; SIGKILL after timeout."""
        if self.popen is None:
            return 0
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                raise BenchError(
                    f"{self.name} did not stop within {timeout_s}s of SIGTERM:\n{self.tail()}"
                ) from None
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
