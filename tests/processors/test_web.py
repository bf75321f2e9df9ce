"""The worker's /healthz and /readyz, on a real worker and real services.

Readiness follows Redis: the test stops and restarts a private ``redis-server`` of its own (never
the shared one the rest of the suite uses).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import tcp_answers
from processors.settings import RedisSettings
from processors.web import KafkaProbe, RedisProbe
from support.pipeline import Pipeline, free_port, running_pipeline


@dataclass
class PrivateRedis:
    """A throwaway redis-server on its own port, without persistence."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make up installs it)"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not tcp_answers("127.0.0.1", self.port, timeout_s=0.2):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def get(pipeline: Pipeline, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{pipeline.settings.worker.web_port}{path}")


async def readyz_until(pipeline: Pipeline, status: int, *, timeout_s: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await get(pipeline, "/readyz")
        if response.status_code == status:
            return response.json()
        assert asyncio.get_running_loop().time() < deadline, (response.status_code, response.text)
        await asyncio.sleep(0.2)


async def test_readyz_follows_redis_and_healthz_stays_up(
    private_redis: PrivateRedis, kafka_bootstrap: str, tmp_path: Path, unique: str
) -> None:
    async with running_pipeline(kafka_bootstrap, private_redis.url, tmp_path, unique) as pipeline:
        await pipeline.worker.astart()
        body = await readyz_until(pipeline, 200)
        assert body["ready"] is True
        assert {name: check["ok"] for name, check in body["checks"].items()} == {
            "consumer": True,
            "kafka": True,
            "redis": True,
        }
        assert "partition(s) assigned" in body["checks"]["consumer"]["detail"]

        await asyncio.to_thread(private_redis.stop)
        body = await readyz_until(pipeline, 503)
        assert body["ready"] is False
        assert body["checks"]["redis"]["ok"] is False
        assert "redis unreachable" in body["checks"]["redis"]["detail"]
        assert body["checks"]["kafka"]["ok"] is True
        assert body["checks"]["consumer"]["ok"] is True
        healthz = await get(pipeline, "/healthz")
        assert healthz.status_code == 200
        assert healthz.json() == {"status": "ok", "worker_id": pipeline.settings.worker.id}

        await asyncio.to_thread(private_redis.start)
        body = await readyz_until(pipeline, 200)
        assert all(check["ok"] for check in body["checks"].values())
        logs = pipeline.worker.logs()
        assert "not ready: redis: redis unreachable" in logs
        assert logs.rindex("worker ready") > logs.index("not ready: redis")


async def test_probes_answer_against_real_services_and_fail_fast_on_a_dead_port(
    kafka_bootstrap: str, redis_url: str
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    probes: list[KafkaProbe | RedisProbe] = [
        KafkaProbe(kafka_bootstrap),
        RedisProbe(RedisSettings(url=redis_url)),
        KafkaProbe(dead),
        RedisProbe(RedisSettings(url=f"redis://{dead}/0")),
    ]
    try:
        started = time.monotonic()
        live_kafka, live_redis, dead_kafka, dead_redis = [
            await probe.check(timeout_s=2.0) for probe in probes
        ]
        assert live_kafka.ok, live_kafka
        assert "broker(s) answered" in live_kafka.detail
        assert live_redis.ok, live_redis
        assert not dead_kafka.ok
        assert dead in dead_kafka.detail
        assert not dead_redis.ok
        assert "redis unreachable" in dead_redis.detail
        assert time.monotonic() - started < 8
        # A probe recovers on the next check once the service answers again.
        assert (await probes[0].check()).ok
    finally:
        for probe in probes:
            await probe.aclose()
