"""Every ``format`` the catalogue's config schemas use is checked, and checking cannot hang.

jsonschema asserts a format only when the library that checks it is installed: without
``rfc3986-validator`` a ``"format": "uri"`` accepts any string, silently. These tests fail when a
schema names a format no installed checker asserts, prove the catalogue's formats refuse what
they should (naming the field), and feed each checker 256 KiB of the characters a hostile value
would repeat: the bound of one second exists to catch hangs, not to measure speed.
"""

from __future__ import annotations

import time

import pytest
from jsonschema import Draft202012Validator

from integrations.discovery import discover
from integrations.errors import InvalidConfigError
from integrations.registry import IntegrationRegistry
from support.integrations import catalogue_keyword

FORMATS = sorted({value for _, _, value in catalogue_keyword("format")})
SIZE = 256 * 1024
BOUND_S = 1.0
UNITS = ["a", "/", "%", "%2", ":", "@", "?", "#", "1", ".", "-", "[", "::", "//", "!$&'()*+,;="]


def test_the_catalogue_uses_formats() -> None:
    assert {"uri", "date-time", "email"} <= set(FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_in_the_catalogue_has_a_checker(name: str) -> None:
    assert name in Draft202012Validator.FORMAT_CHECKER.checkers, (
        f"format {name!r} is used by a config schema but nothing installed checks it; add the "
        "library jsonschema needs for it (see jsonschema's 'format-nongpl' extra) to pyproject"
    )


@pytest.fixture(scope="module")
def registry() -> IntegrationRegistry:
    target = IntegrationRegistry()
    discover(target)
    return target


def _config(integration_id: str, value: str) -> dict[str, object]:
    return {
        "stripe_create_payment_intent": {"amount": 100, "currency": "usd", "return_url": value},
        "discord_execute_webhook": {"embeds": [{"title": "t", "timestamp": value}]},
    }[integration_id]


@pytest.mark.parametrize(
    ("integration_id", "field", "good", "bad"),
    [
        ("stripe_create_payment_intent", "return_url", "https://shop.example/done?o=1", "done"),
        ("discord_execute_webhook", "timestamp", "2026-12-03T06:00:00Z", "yesterday"),
        ("discord_execute_webhook", "timestamp", "2026-12-03T06:00:00+03:00", "2026-13-03T06:00Z"),
    ],
)
def test_a_value_outside_its_format_is_refused_naming_the_field(
    registry: IntegrationRegistry, integration_id: str, field: str, good: str, bad: str
) -> None:
    metadata = registry.metadata(integration_id)
    metadata.validate_config(_config(integration_id, good))
    with pytest.raises(InvalidConfigError) as caught:
        metadata.validate_config(_config(integration_id, bad))
    assert field in str(caught.value)
    assert "is not a" in str(caught.value)


@pytest.mark.parametrize("name", FORMATS)
def test_no_format_checker_hangs_on_its_worst_cases(name: str) -> None:
    validator = Draft202012Validator(
        {"type": "string", "format": name}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for unit in UNITS:
        body = unit * (SIZE // len(unit))
        for text in (body + "\x00", "http://" + body + " ", "a@" + body + "\n"):
            started = time.perf_counter()
            validator.is_valid(text)
            took = time.perf_counter() - started
            assert took < BOUND_S, f"format {name!r} took {took:.1f} s on {unit!r} * {SIZE}"
