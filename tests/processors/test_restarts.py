"""A broker restart and a Redis restart in the middle of a run lose nothing.

These run on a private Kafka + Redis (their own ports and data), so restarting them does not
disturb the rest of the suite.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import ResultStatus
from support.pipeline import running_pipeline
from support.stack import PrivateStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[PrivateStack]:
    private = PrivateStack.create(tmp_path / "stack")
    private.run("up")
    try:
        yield private
    finally:
        private.run("down")


@pytest.mark.timeout(300)
async def test_broker_and_redis_restarts_during_a_run_lose_nothing(
    stack: PrivateStack, tmp_path: Path, unique: str
) -> None:
    bots, per_bot = 20, 15
    async with running_pipeline(stack.bootstrap, stack.redis_url(), tmp_path, unique) as pipeline:
        pipeline.write_credentials(
            {pipeline.bot(b): {"telegram": {"token": pipeline.token(b)}} for b in range(bots)}
        )
        pipeline.fake.latency_s, pipeline.fake.jitter_s = 0.02, 0.05
        requests = [
            pipeline.publisher.build(
                pipeline.bot(b), "telegram_send_message", {"chat_id": 7000 + b * 100 + n,
                                                           "text": f"seq {n}"}
            )
            for n in range(per_bot)
            for b in range(bots)
        ]  # fmt: skip
        await pipeline.worker.astart()
        await pipeline.publisher.send_many(requests[: len(requests) // 2])

        await asyncio.sleep(0.5)
        await asyncio.to_thread(stack.stop, "redis")
        await asyncio.sleep(2)  # the worker runs into a dead Redis: it must pause, not fail
        await asyncio.to_thread(stack.run, "up")

        await asyncio.sleep(1)
        await asyncio.to_thread(stack.stop, "kafka")
        await asyncio.sleep(2)  # results cannot be published, offsets cannot be committed
        await asyncio.to_thread(stack.run, "up")
        await pipeline.publisher.send_many(requests[len(requests) // 2 :])

        wanted = {str(r.request_id) for r in requests}
        results = await pipeline.results_until(
            lambda got: wanted <= {str(r.request_id) for r in got}, timeout_s=180
        )
        assert pipeline.worker.running, pipeline.worker.tail()

    by_id: dict[str, list[ResultStatus]] = {}
    for result in results:
        by_id.setdefault(str(result.request_id), []).append(result.status)
    assert set(by_id) == wanted
    for statuses in by_id.values():
        assert set(statuses) <= {ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE}, statuses
    sent = Counter((m.chat_id, m.text) for m in pipeline.fake.messages())
    assert len(sent) == len(requests)
    assert max(sent.values()) == 1, "a restart made the worker send a message twice"
    for b in range(bots):
        texts = [m.text for m in pipeline.fake.messages(token=pipeline.token(b))]
        assert texts == [f"seq {n}" for n in range(per_bot)]
