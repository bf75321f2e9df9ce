"""The retry history header is ours to write, but anyone who can publish can write one."""

from __future__ import annotations

import json

import pytest

from processors.retries import MAX_HISTORY_BYTES, Attempt, decode_attempts, encode_attempts

ONE = Attempt(1, "transient", 503, "HTTP 503", 1_764_000_000_000, maybe_executed=True)


def test_what_we_write_reads_back() -> None:
    assert decode_attempts(encode_attempts([ONE, ONE])) == [ONE, ONE]


def entry(**changes: object) -> bytes:
    item = {**json.loads(encode_attempts([ONE]))[0], **changes}
    return json.dumps([item]).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff{not json",
        b"[" * 100_000,  # nested past json's recursion limit
        b"[" + b"1," * MAX_HISTORY_BYTES + b"1]",  # past the size cap
        b'{"attempt": 1}',  # not a list
        b"[1, 2]",  # entries that are not objects
        entry(surprise=True),  # a field we never write
        entry(at_ms=10**30),  # past the year 9999: no datetime holds it
        entry(at_ms=-1),
        entry(attempt="1"),
        entry(code=True),
        entry(maybe_executed="yes"),
        entry(message=None),
    ],
    ids=[
        "bytes", "deep", "huge", "object", "numbers", "extra-field", "far-future", "negative",
        "string-attempt", "bool-code", "string-flag", "null-message",
    ],
)  # fmt: skip
def test_a_header_we_did_not_write_is_an_empty_history(raw: bytes) -> None:
    assert decode_attempts(raw) == []
