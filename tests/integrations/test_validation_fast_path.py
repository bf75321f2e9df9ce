"""The Rust fast path of config validation never accepts a config the Python validator refuses.

``integrations.validation`` accepts a config as soon as ``jsonschema-rs`` finds it valid and asks
the Python ``jsonschema`` validator otherwise. That is only sound if the fast path is never more
lenient: generated configs for every built-in integration's schema (property names from the
schema, values of every JSON type, strings shaped like the formats and patterns it checks) must
never be fast-accepted and refused by Python.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.discovery import discover
from integrations.registry import IntegrationRegistry
from integrations.validation import compiled_schema, config_errors

REGISTRY = IntegrationRegistry()
discover(REGISTRY)
SCHEMAS = {metadata.id: metadata.config_schema for metadata in REGISTRY.list()}

TRICKY = [
    "", "a", "done", "a\n", "12", "-1", "1e3", "https://shop.example/done?o=1", "http://[::1]/",
    "mailto:a@b", "a@b", "a@b.c", "not an email", "2026-12-03T06:00:00Z", "2026-13-03T06:00Z",
    "2026-12-03", "06:00:00", "+79001234567", "ru", "RUB", "usd", "x" * 5000, "\u00e9\u0301",
    "\ud7ff", "0x1F", "true", "null",
]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.sampled_from(TRICKY), st.text(max_size=40),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def property_names(schema: Any) -> list[str]:
    """Every property name anywhere in the schema (nested objects included)."""
    names: list[str] = []
    if isinstance(schema, dict):
        names.extend(str(k) for k in (schema.get("properties") or {}))
        for value in schema.values():
            names.extend(property_names(value))
    elif isinstance(schema, list):
        for value in schema:
            names.extend(property_names(value))
    return names


@st.composite
def configs(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    names = property_names(schema) or ["x"]
    keys = draw(st.lists(st.sampled_from(names), max_size=len(names) + 1, unique=True))
    config: dict[str, Any] = {}
    for key in keys:
        nested = draw(st.booleans())
        config[key] = draw(
            st.dictionaries(st.sampled_from(names), values, max_size=3) if nested else values
        )
    return config


def test_every_builtin_schema_has_a_fast_path() -> None:
    # A schema the Rust validator cannot compile silently loses the fast path: say which.
    assert [i for i, schema in SCHEMAS.items() if compiled_schema(schema).fast is None] == []


@pytest.mark.parametrize("integration_id", sorted(SCHEMAS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_path_is_never_more_lenient(integration_id: str, data: st.DataObject) -> None:
    schema = SCHEMAS[integration_id]
    config = data.draw(configs(schema))
    compiled = compiled_schema(schema)
    if compiled.surely_valid(config):
        assert list(compiled.python.iter_errors(config)) == [], config


def test_a_refused_config_is_described_by_the_python_validator() -> None:
    schema = SCHEMAS["telegram_send_message"]
    assert config_errors(schema, {"chat_id": 1, "text": "hi"}) == []
    problems = config_errors(schema, {"chat_id": 1})
    assert problems and "text" in problems[0]
