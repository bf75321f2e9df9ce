"""Poison input: every malformed value is a SchemaDecodeError, quickly, with the raw bytes kept."""

from __future__ import annotations

import random
import time
import tracemalloc

import pytest

from schemas import (
    AnyEvent,
    AvroCodec,
    DeadLetter,
    IntegrationRequest,
    IntegrationResult,
    SchemaDecodeError,
    UnknownSchemaError,
)

REQUEST_HEADER = AvroCodec().writer_schema("integration_request").header


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty record value"),
        (b'{"bot_id": "b"}', "bad magic byte 0x7b"),
        (b"\x01\x02\x03", "bad magic byte 0x01"),
        (b"\xc3", "bad magic: C3 not followed by 01"),
        (b"\xc3\x02" + bytes(8), "bad magic: C3 not followed by 01"),
        (b"\xc3\x01\x41\x4d", "truncated single-object header"),
        (b"\x00\x00\x01", "truncated Confluent header"),
        (REQUEST_HEADER, "truncated integration_request.v2 body"),
        (REQUEST_HEADER + b"\x02", "truncated integration_request.v2 body"),
    ],
)
def test_malformed_values(data: bytes, message: str) -> None:
    with pytest.raises(SchemaDecodeError, match=message) as caught:
        AvroCodec().decode(IntegrationRequest, data)
    assert caught.value.raw == data
    assert not caught.value.retryable


def test_unknown_fingerprint_names_it() -> None:
    data = b"\xc3\x01" + bytes.fromhex("0123456789abcdef") + b"\x00" * 20
    with pytest.raises(
        UnknownSchemaError, match="unknown writer schema fingerprint 0123456789abcdef"
    ):
        AvroCodec().decode_request(data)


def test_confluent_frame_without_registry() -> None:
    data = b"\x00\x00\x00\x00\x07" + b"\x02" * 20
    with pytest.raises(UnknownSchemaError, match="unknown schema registry id 7") as caught:
        AvroCodec().decode_request(data)
    assert caught.value.schema_id == 7
    assert caught.value.fingerprint is None


def test_every_truncation_of_every_event(all_events: list[AnyEvent]) -> None:
    codec = AvroCodec()
    for event in all_events:
        data = codec.encode(event)
        for cut in range(len(data)):
            with pytest.raises(SchemaDecodeError):
                codec.decode(type(event), data[:cut])


def test_trailing_bytes_are_refused(request_event: IntegrationRequest) -> None:
    data = AvroCodec().encode(request_event) + b"\x00"
    with pytest.raises(SchemaDecodeError, match=r"1 bytes left after a integration_request\.v1"):
        AvroCodec().decode_request(data)


def test_wrong_record_type(result_event: IntegrationResult) -> None:
    data = AvroCodec().encode(result_event)
    with pytest.raises(
        SchemaDecodeError,
        match=r"the record is a io\.actionstream\.IntegrationResult \(integration_result\.v1\), "
        r"expected a io\.actionstream\.IntegrationRequest",
    ):
        AvroCodec().decode_request(data)


def test_huge_length_prefix_allocates_nothing_large() -> None:
    # bot_id etc. are length-prefixed; claim a 2**62-byte string with 10 bytes of body.
    huge = b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"  # zig-zag varint of 2**62 - 1
    for body in (huge, b"\x48" + b"0" * 36 + huge, b"\x48" + b"0" * 36 + b"\x02b" + huge):
        tracemalloc.start()
        try:
            with pytest.raises(SchemaDecodeError):
                AvroCodec().decode_request(REQUEST_HEADER + body)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000, f"decoding a garbage length allocated {peak} bytes"


def test_huge_array_count_in_dead_letter_headers(dead_letter_event: DeadLetter) -> None:
    codec = AvroCodec()
    data = codec.encode(dead_letter_event)
    # Everything up to the headers array (2 items: 0x04, then "traceparent"), then a block
    # count of 2**62 - 1 items and nothing else.
    prefix_len = data.index(b"\x04\x16traceparent")
    start = time.perf_counter()
    with pytest.raises(SchemaDecodeError):
        codec.decode_dead_letter(data[:prefix_len] + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f")
    assert time.perf_counter() - start < 0.5


def _mutations(rng: random.Random, valid: bytes, header: bytes) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:  # pure noise
        return rng.randbytes(rng.randrange(0, 300))
    if kind == 1:  # a valid header, noise body
        return header + rng.randbytes(rng.randrange(0, 300))
    if kind == 2:  # a Confluent frame with noise
        return b"\x00" + rng.randbytes(rng.randrange(0, 300))
    mutated = bytearray(valid)
    for _ in range(rng.randrange(1, 6)):  # flip bytes of a valid record (header kept)
        position = rng.randrange(10, len(mutated))
        mutated[position] = rng.randrange(256)
    if kind == 4:
        del mutated[rng.randrange(10, len(mutated)) :]
    return bytes(mutated)


def test_fuzz_random_and_mutated_inputs(all_events: list[AnyEvent]) -> None:
    rng = random.Random(20240517)
    codec = AvroCodec()
    outcomes = {"decoded": 0, "refused": 0}
    raws_kept = True
    start = time.perf_counter()
    for event in all_events:
        valid = codec.encode(event)
        header = valid[:10]
        for _ in range(10_000):
            data = _mutations(rng, valid, header)
            try:
                codec.decode(type(event), data)
            except SchemaDecodeError as exc:
                raws_kept &= exc.raw == data
                outcomes["refused"] += 1
            else:
                outcomes["decoded"] += 1  # a flipped byte inside a string still decodes
    elapsed = time.perf_counter() - start
    assert raws_kept
    assert outcomes["refused"] > 15_000
    assert elapsed < 10, f"30000 poison decodes took {elapsed:.1f}s"
