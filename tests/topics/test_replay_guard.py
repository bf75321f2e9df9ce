"""The replay guard's decision: what happened, the side effect, the provider's key window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integrations.base import IntegrationMetadata, SideEffect
from topics.replay import side_effect_guard

HOUR = timedelta(hours=1)


def metadata(**policy: Any) -> IntegrationMetadata:
    return IntegrationMetadata(
        id="svc_action", version="1.0.0", name="action", description="d", category="messaging",
        config_schema={"type": "object"}, credentials_provider="svc", **policy,
    )  # fmt: skip


TELEGRAM = metadata(side_effect=SideEffect.NON_IDEMPOTENT)
LOOKUP = metadata(side_effect=SideEffect.NONE)
STRIPE = metadata(
    side_effect=SideEffect.IDEMPOTENT, supports_idempotency_key=True, idempotency_window_s=86400
)
DROPBOX = metadata(side_effect=SideEffect.IDEMPOTENT)  # overwrites by path: no window


@pytest.mark.parametrize(
    ("meta", "maybe_executed", "age", "allowed", "says"),
    [
        (TELEGRAM, False, HOUR, True, "no attempt may have had its effect"),
        (TELEGRAM, True, HOUR, False, "non_idempotent"),
        (TELEGRAM, None, HOUR, False, "does not say"),
        (LOOKUP, True, HOUR, True, "no side effect"),
        (STRIPE, True, 23 * HOUR, True, "within its provider's 24 h idempotency window"),
        (STRIPE, True, 25 * HOUR, False, "past the 24 h its provider keeps idempotency keys"),
        (STRIPE, False, 25 * HOUR, True, "no attempt may have had its effect"),
        (DROPBOX, None, 100 * HOUR, True, "is idempotent"),
        (None, True, HOUR, False, "not registered here"),
        (None, False, HOUR, True, "no attempt may have had its effect"),
    ],
)
def test_guard_decisions(
    meta: IntegrationMetadata | None,
    maybe_executed: bool | None,
    age: timedelta,
    allowed: bool,
    says: str,
) -> None:
    decision, reason = side_effect_guard(
        meta, integration_id="svc_action", maybe_executed=maybe_executed, age=age
    )
    assert decision is allowed
    assert says in reason
    if not allowed:
        assert "--allow-side-effects" in reason


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"idempotency_window_s -1\.0 must be a positive number"):
        metadata(idempotency_window_s=-1)
