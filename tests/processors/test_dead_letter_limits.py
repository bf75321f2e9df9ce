"""A dead letter always fits Kafka's message limit, whatever the record it keeps."""

from __future__ import annotations

import hashlib

from processors.records import InboundRecord
from processors.results import MAX_ORIGINAL_BYTES, dead_letter_for
from schemas import AvroCodec, ErrorRecord, utc_now


def test_a_huge_record_is_cut_and_its_size_and_hash_kept() -> None:
    original = bytes(range(256)) * 8192  # 2 MiB
    record = InboundRecord(
        topic="integration.requests", partition=0, offset=7, key=b"k" * 100_000,
        value=original, headers=tuple((f"h{n}", b"v" * 50_000) for n in range(500)),
        timestamp_ms=0,
    )  # fmt: skip
    error = ErrorRecord(category="undecodable", message="m" * 100_000, code=400)
    letter = dead_letter_for(record, error=error, worker_id="w", failed_at=utc_now())
    assert letter.original == original[:MAX_ORIGINAL_BYTES]
    assert f"of {len(original)} bytes; sha256 {hashlib.sha256(original).hexdigest()}" in (
        letter.error.message
    )
    assert len(AvroCodec().encode(letter)) < 900 * 1024
