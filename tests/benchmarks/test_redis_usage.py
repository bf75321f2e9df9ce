"""The Redis meter's arithmetic and key patterns (no Redis needed)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from unittest.mock import MagicMock

from benchmarks.redis_usage import command_calls, command_delta, key_patterns, per_request
from benchmarks.report import redis_summary
from integrations.credentials import CredentialsCache, generate_key
from integrations.credentials.crypto import EntryCipher
from integrations.credentials.keys import make_key
from processors.idempotency import IdempotencyStore


def test_command_calls_reads_commandstats() -> None:
    info = {
        "cmdstat_evalsha": {"calls": 30, "usec": 900},
        "cmdstat_config|get": {"calls": 2, "usec": 4},
        "used_memory": 123,
    }
    assert command_calls(info) == {"evalsha": 30, "config|get": 2}


def test_delta_takes_off_the_meters_own_info_and_idle_commands() -> None:
    before = {"evalsha": 10, "info": 4, "ping": 1}
    after = {"evalsha": 40, "info": 5, "ping": 1, "time": 30}
    assert command_delta(before, after) == {"evalsha": 30, "time": 30}


def test_per_request() -> None:
    usage = per_request({"evalsha": 30, "hset": 20}, 10, {"used_memory": 5000})
    assert usage["commands_per_request"] == 5.0
    assert usage["by_command_per_request"] == {"evalsha": 3.0, "hset": 2.0}
    assert usage["used_memory_per_request_bytes"] == 500.0


def test_patterns_match_the_real_key_layouts() -> None:
    patterns = key_patterns("bench-abc-")
    redis = MagicMock()
    redis.get_encoder.return_value.decode_responses = False
    redis.connection_pool.connection_kwargs = {}
    idem = IdempotencyStore(redis).key("bench-abc-7", "5b1e0c1e-request-id").decode()
    assert fnmatchcase(idem, patterns["idempotency"])
    assert not fnmatchcase(
        IdempotencyStore(redis).key("bench-xyz-7", "k").decode(), patterns["idempotency"]
    )
    cache = CredentialsCache(redis, EntryCipher.from_text(generate_key()))
    cred = cache.redis_key(make_key("bench-abc-7", "telegram", "api_key"))
    assert fnmatchcase(cred, patterns["credentials"])
    assert not fnmatchcase(cred, patterns["credentials_index"])
    assert fnmatchcase("actionstream:rl:{telegram:0f1e}:c:30/1.0", patterns["ratelimit_credential"])
    target = "actionstream:rl:{telegram:0f1e}:t:chat_id:9a8b:1/1.0"
    assert fnmatchcase(target, patterns["ratelimit_target"])


def test_summary_takes_medians_over_runs() -> None:
    def run(commands: float, record: int) -> dict[str, object]:
        idem = {
            "keys": 200,
            "median_bytes": record,
            "p95_bytes": record + 16,
            "result_median_bytes": 171,
            "encodings": {"listpack": 200},
        }
        usage = {
            "requests": 1000,
            "commands_per_request": commands,
            "by_command_per_request": {"evalsha": 3.0},
            "used_memory_per_request_bytes": 700,
            "keys": {"idempotency": idem},
        }
        return {"extra": {"redis": usage}}

    runs = [run(15, 688), run(16, 704), run(14, 680)]
    scenarios = {"actionstream": {"title": "3.", "runs": runs}}
    summary = redis_summary(scenarios)["actionstream"]
    assert summary["commands_per_request"] == 15
    assert summary["keys"]["idempotency"]["median_bytes"] == 688
    assert summary["keys"]["idempotency"]["sampled_keys"] == 600
    assert summary["keys"]["ratelimit_target"] is None
