"""Finished offsets above the committed one, carried in the commit's metadata string.

A partition's commit can only move to its first unfinished record; work finished after it would
be redone after a crash (as DUPLICATE results, each a Redis read). So every commit also says
which offsets above it are finished, as Confluent's Parallel Consumer does, and whoever gets the
partition next skips them. The format, in the ``metadata`` of Kafka's ``OffsetCommit``::

    as1:<base>:<payload>

``base`` is the committed offset itself (a mark whose base differs from the committed offset,
e.g. after an operator reset offsets, is ignored). ``payload`` is urlsafe base64 of the
zlib-compressed bitset whose bit ``i`` (bit ``i % 8`` of byte ``i // 8``) says offset
``base + i`` is finished. Finished offsets arrive mostly in runs, which compress well. The
broker limits metadata to ``offset.metadata.max.bytes`` (4,096 by default): when the marks do
not fit, the highest offsets are dropped until they do, which only means those records are redone.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable

PREFIX = "as1:"
MAX_METADATA_CHARS = 4_000  # below the broker's default offset.metadata.max.bytes (4,096)
MAX_SPAN = 1 << 20  # offsets beyond base + MAX_SPAN are never marked (a 128 KiB bitset)


def encode(base: int, finished: Iterable[int], *, max_chars: int = MAX_METADATA_CHARS) -> str:
    """The metadata marking ``finished`` offsets (those ≥ ``base``); ``""`` when there are none."""
    offsets = sorted({o - base for o in finished if base <= o < base + MAX_SPAN})
    while offsets:
        text = _encode(base, offsets)
        if len(text) <= max_chars:
            return text
        offsets = offsets[: len(offsets) // 2]  # keep the lowest: they are redelivered first
    return ""


def decode(text: str | None, committed: int) -> frozenset[int]:
    """The finished offsets a commit's metadata marks; empty when it marks none or is not ours."""
    if not text or not text.startswith(PREFIX):
        return frozenset()
    try:
        base_text, payload = text[len(PREFIX) :].split(":", 1)
        base = int(base_text)
        # Bounded: never more than a MAX_SPAN bitset, whatever the payload expands to.
        bits = zlib.decompressobj().decompress(base64.urlsafe_b64decode(payload), MAX_SPAN // 8 + 1)
    except (ValueError, zlib.error, binascii.Error):
        return frozenset()
    if base != committed or len(bits) > MAX_SPAN // 8:
        return frozenset()
    return frozenset(
        base + byte_index * 8 + bit
        for byte_index, byte in enumerate(bits)
        if byte
        for bit in range(8)
        if byte >> bit & 1
    )


def _encode(base: int, relative: list[int]) -> str:
    bits = bytearray(relative[-1] // 8 + 1)
    for i in relative:
        bits[i // 8] |= 1 << (i % 8)
    payload = base64.urlsafe_b64encode(zlib.compress(bytes(bits), 9)).decode()
    return f"{PREFIX}{base}:{payload}"
