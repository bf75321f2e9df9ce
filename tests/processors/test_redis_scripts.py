"""ScriptRunner on one real Redis: a batch written and read on one pooled connection.

Each caller must get its own reply, an error reply or a bad argument must fail only its call,
and a hung Redis must fail the batch within the deadline without leaving the connection
out of step with its replies.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError, ResponseError

from processors.redis_scripts import ScriptRunner

ECHO = """
if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


async def test_a_batch_answers_every_caller_its_own_reply(redis_client: aioredis.Redis) -> None:
    runner = ScriptRunner(redis_client)
    echo = runner.register(ECHO)
    await redis_client.script_load(ECHO)
    values = [f"v{i}" for i in range(200)]
    replies = await asyncio.gather(
        *(runner.run(echo, [f"k{i}"], [value]) for i, value in enumerate(values)),
        runner.run(echo, ["k-fail"], ["fail"]),
        runner.run(echo, ["k-none"], [None]),  # type: ignore[list-item]  # not a Redis value
        return_exceptions=True,
    )
    assert replies[:200] == [value.encode() for value in values]
    assert isinstance(replies[200], ResponseError) and "asked to fail" in str(replies[200])
    assert isinstance(replies[201], DataError)
    assert await redis_client.get("k199") == b"v199"
    assert await redis_client.exists("k-none") == 0  # never sent


async def test_a_hung_redis_fails_the_batch_in_time_and_the_next_one_reads_its_own_reply(
    redis_client: aioredis.Redis, redis_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_url, max_connections=1)  # the batches share it
    runner = ScriptRunner(client, timeout_s=0.3)
    echo = runner.register(ECHO)
    try:
        assert await runner.run(echo, ["k"], ["before"]) == b"before"
        await redis_client.execute_command("CLIENT", "PAUSE", 1000, "ALL")
        with pytest.raises(TimeoutError):
            await runner.run(echo, ["k"], ["while paused"])
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        # The late reply to the paused batch must not be taken for this one's.
        assert await runner.run(echo, ["k"], ["after"]) == b"after"
        assert await runner.run(echo, ["k"], ["later"]) == b"later"
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        await client.aclose()
