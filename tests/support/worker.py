"""Run a real worker (``actionstream worker``) in a subprocess, as production does.

A subprocess is the only honest way to test crashes (SIGKILL), SIGTERM handling and restarts,
and it keeps Faust's own event loop and signal handlers out of the test process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra import REPO
from processors.settings import Settings
from support.env import settings_env

READY_MARK = "[^Worker]: Ready"


@dataclass
class WorkerProcess:
    """One worker process and its log file."""

    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self, *, wait_ready_s: float = 60.0) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ACTIONSTREAM_")},
            **settings_env(self.settings),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
            "PYTHONUNBUFFERED": "1",
            "PTB_TIMEDELTA": "1",
        }
        self.starts += 1
        ready_before = self.logs().count(READY_MARK)
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "processors", "worker"],
            # Faust makes its data directory (<group>-data) in the working directory: the
            # test's, not the repository's.
            cwd=self.log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready(wait_ready_s, ready_before)

    def _wait_ready(self, timeout_s: float, ready_before: int) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited with {self.proc.returncode} before it was ready:\n{self.tail()}"
                )
            if self.logs().count(READY_MARK) > ready_before:
                return
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout_s}s:\n{self.tail()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, *, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"worker did not stop within {timeout_s}s of SIGTERM:\n{self.tail()}"
                ) from None
        return self.proc.returncode

    # The async forms keep the test's event loop (which serves the fakes) running meanwhile.
    async def astart(self, *, wait_ready_s: float = 60.0) -> None:
        await asyncio.to_thread(self.start, wait_ready_s=wait_ready_s)

    async def astop(self, *, timeout_s: float = 60.0) -> int:
        return await asyncio.to_thread(self.stop, timeout_s=timeout_s)

    def pause(self) -> None:
        """SIGSTOP: the process freezes (a long GC pause, a stalled VM) without dying."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
