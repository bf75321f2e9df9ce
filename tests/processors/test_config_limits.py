"""A request's config is bounded in size and depth before anything validates or executes it."""

from __future__ import annotations

import json

import pytest

from integrations.errors import InvalidConfigError
from processors.executor import parse_config

LIMITS = {"max_bytes": 256 * 1024, "max_depth": 32}


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_a_config_within_the_limits_parses() -> None:
    assert parse_config('{"chat_id": 1, "text": "hi"}', **LIMITS) == {"chat_id": 1, "text": "hi"}
    assert parse_config(nested(32), **LIMITS)["a"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (json.dumps({"text": "x" * 300_000}), "over the limit of 262144"),
        (json.dumps({"text": "я" * 140_000}), "over the limit"),  # counted in bytes, not chars
        (nested(33), "deeper than 32"),
        ("[" * 100_000 + "]" * 100_000, "deeper than 32"),  # past json's own recursion limit
        ('{"a": [' * 20 + "1" + "]}" * 20, "deeper than 32"),
        ("[1, 2]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        ('{"a": ', "not valid JSON"),
    ],
    ids=["size", "multibyte-size", "depth", "recursion", "mixed-depth", "array", "null", "broken"],
)
def test_a_config_over_a_limit_is_invalid_and_says_which(text: str, words: str) -> None:
    with pytest.raises(InvalidConfigError, match=words):
        parse_config(text, **LIMITS)
