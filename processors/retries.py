"""Retry decisions: backoff with jitter, the history of attempts, and when re-executing is safe.

Pure functions and small records, so the rules are easy to read and to test on their own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from integrations.base import IntegrationMetadata, SideEffect, UnknownOutcomePolicy
from integrations.outcome import Outcome

ATTEMPTS_HEADER = "actionstream-attempts"
MAX_SUMMARY_CHARS = 1_500
#: A real history is a few hundred bytes per attempt; a header past this is not one of ours.
MAX_HISTORY_BYTES = 64 * 1024
_MAX_AT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant datetime holds


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed attempt, as carried in results, dead letters and retry-topic headers."""

    attempt: int
    category: str
    code: int | None
    message: str
    at_ms: int
    maybe_executed: bool = False
    """The attempt may have had its side effect (carried through the retry topic for the
    replay guard; histories written before this field read as False)."""

    @classmethod
    def of(cls, attempt: int, outcome: Outcome, at: datetime) -> Attempt:
        return cls(
            attempt, outcome.category.value, outcome.code, outcome.message, _ms(at),
            outcome.maybe_executed,
        )  # fmt: skip

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC)


def summarize(attempts: Sequence[Attempt]) -> str:
    """``"3 attempts: #1 transient 503: …; #2 …"``, bounded in length."""
    parts = [f"#{a.attempt} {a.category} {a.code}: {a.message}" for a in attempts]
    noun = "attempt" if len(attempts) == 1 else "attempts"
    text = f"{len(attempts)} {noun}: " + "; ".join(parts)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 3] + "..."


def encode_attempts(attempts: Sequence[Attempt]) -> bytes:
    return json.dumps([asdict(a) for a in attempts], separators=(",", ":")).encode()


def decode_attempts(raw: bytes | None) -> list[Attempt]:
    """The history carried by a retry-topic record; an unreadable header is an empty history.

    We write the header, but anyone who can publish can write one: past ``MAX_HISTORY_BYTES``,
    nested too deep to parse, or with one entry of the wrong shape, it is ignored.
    """
    if not raw or len(raw) > MAX_HISTORY_BYTES:
        return []
    try:
        items = json.loads(raw)
        history = [Attempt(**item) for item in items]
    except (ValueError, TypeError, RecursionError):
        return []
    return history if all(map(_well_formed, history)) else []


def _well_formed(attempt: Attempt) -> bool:
    def integer(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    return (
        integer(attempt.attempt)
        and isinstance(attempt.category, str)
        and (attempt.code is None or integer(attempt.code))
        and isinstance(attempt.message, str)
        and integer(attempt.at_ms)
        and 0 <= attempt.at_ms <= _MAX_AT_MS
        and isinstance(attempt.maybe_executed, bool)
    )


def backoff_s(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped at ``max_s``."""
    ceiling = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after_s(outcome: Outcome, fallback_s: float, rng: random.Random) -> float:
    """The provider's ``retry_after`` plus up to 10 % jitter (so parked bots do not stampede)."""
    wait = outcome.retry_after_s if outcome.retry_after_s is not None else fallback_s
    return wait + rng.uniform(0, max(0.05, wait * 0.1))


def may_reexecute(metadata: IntegrationMetadata, override: str | None = None) -> bool:
    """Whether an action whose earlier attempt may have had its side effect may run again.

    Safe when it has no side effect, is idempotent, or the provider dedupes with our key;
    otherwise the policy decides: ``reexecute`` (at-least-once) or ``report`` (at-most-once:
    an OUTCOME_UNKNOWN result for an operator).
    """
    if metadata.side_effect in (SideEffect.NONE, SideEffect.IDEMPOTENT):
        return True
    if metadata.supports_idempotency_key:
        return True
    policy = UnknownOutcomePolicy(override) if override else metadata.on_unknown_outcome
    return policy is UnknownOutcomePolicy.REEXECUTE


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
