"""No config schema pattern can hang validation: every one is checked against its worst cases.

jsonschema evaluates ``pattern`` with Python's backtracking ``re.search``, even after
``maxLength`` failed, so one quadratic pattern lets a tenant freeze the worker with a long
string. For every pattern of every registered integration, this feeds 256 KiB (the most a config
may hold, ``ACTIONSTREAM_PROCESSING__MAX_CONFIG_BYTES``) of each character, and each pair of
characters, that the pattern mentions, with and without a breaking suffix. A linear pattern scans
that in milliseconds, a quadratic one for hours; the bound of one second exists to catch hangs,
not to measure speed.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest

from support.integrations import catalogue_keyword

SIZE = 256 * 1024
BOUND_S = 1.0
# A letter, a digit, space, dash, quote, backslash, newline and a Cyrillic letter.
BASELINE = 'a0 -"\\\n!\u044f'
# A character each escape class stands for (\d: a digit, \S: a non-space, ...).
CATEGORIES = {"d": "7", "s": "\t", "w": "w", "D": "x", "S": "x", "W": "%"}


def patterns() -> Iterator[tuple[str, str, str]]:
    yield from catalogue_keyword("pattern")


def characters(pattern: str) -> str:
    """One character per literal, range end and escape class the pattern has, plus a baseline."""
    found = set(BASELINE)
    for escaped, plain in re.findall(r"\\(.)|(.)", pattern, flags=re.DOTALL):
        found.add(CATEGORIES.get(escaped, escaped) if escaped else plain)
    return "".join(sorted(found))


CASES = list(patterns())


@pytest.mark.parametrize(
    ("integration_id", "path", "pattern"), CASES, ids=[f"{i}{p}" for i, p, _ in CASES]
)
def test_every_config_pattern_stays_linear_on_its_worst_cases(
    integration_id: str, path: str, pattern: str
) -> None:
    compiled = re.compile(pattern)
    alphabet = characters(pattern)
    # A small size first: a quadratic pattern fails there in a second instead of hanging.
    for size in (32 * 1024, SIZE):
        for first, second in itertools.product(alphabet, repeat=2):
            unit = first if first == second else first + second
            body = unit * (size // len(unit))
            for text in (body + "\x00", "a" + body + '"'):
                started = time.perf_counter()
                compiled.search(text)
                took = time.perf_counter() - started
                assert took < BOUND_S, (
                    f"{integration_id} {path}: pattern {pattern!r} took {took:.1f} s on "
                    f"{len(text)} characters of {unit!r}; rewrite it so that no two quantified "
                    "parts can match the same characters"
                )
