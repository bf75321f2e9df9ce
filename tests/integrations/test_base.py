"""IntegrationMetadata validation, RateLimit, semver ordering and config validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from integrations.base import (
    BaseIntegration,
    Category,
    CredentialsStrategy,
    IntegrationMetadata,
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
    parse_version,
)
from integrations.errors import InvalidConfigError
from integrations.validation import compiled_validator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "chat_id": {"type": ["integer", "string"]},
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
        "parse_mode": {"enum": ["HTML", "MarkdownV2"]},
    },
    "required": ["chat_id", "text"],
    "additionalProperties": False,
}


def seed_kwargs(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments the seed's template passes, with overrides."""
    kwargs: dict[str, Any] = {
        "id": "telegram_send_message",
        "version": "1.0.0",
        "name": "Telegram Send Message",
        "description": "Send a text message",
        "category": "messaging",
        "icon_s3_key": "icons/integrations/telegram.svg",
        "color": "#229ED9",
        "config_schema": SCHEMA,
        "credentials_provider": "telegram",
        "credentials_strategy": "api_key",
        "library_name": "python-telegram-bot",
    }
    kwargs.update(overrides)
    return kwargs


def test_seed_style_construction_and_safe_defaults() -> None:
    meta = IntegrationMetadata(**seed_kwargs())
    assert meta.category is Category.MESSAGING
    assert meta.category == "messaging"
    assert meta.credentials_strategy is CredentialsStrategy.API_KEY
    assert meta.service == "telegram"
    assert meta.key == "telegram_send_message@1.0.0"
    # Without a declaration, assume the worst: repeating it repeats the side effect.
    assert meta.side_effect is SideEffect.NON_IDEMPOTENT
    assert meta.on_unknown_outcome is UnknownOutcomePolicy.REPORT
    assert meta.supports_idempotency_key is False
    assert meta.timeout_s == 30
    assert meta.max_attempts == 5
    assert meta.rate_limits == ()


def test_metadata_is_frozen() -> None:
    meta = IntegrationMetadata(**seed_kwargs())
    with pytest.raises(ValidationError, match="frozen"):
        meta.version = "2.0.0"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", "TelegramSend", "{service}_{action}"),
        ("id", "telegram", "at least one underscore"),
        ("id", "telegram-send", "lowercase snake case"),
        ("id", "_send", "{service}_{action}"),
        ("version", "1.0", "MAJOR.MINOR.PATCH"),
        ("version", "v1.0.0", "not a semantic version"),
        ("version", "01.0.0", "not a semantic version"),
        ("category", "weathr", "messaging"),
        ("category", "Messaging", "translation"),
        ("color", "blue", "#RRGGBB"),
        ("color", "#12345", "#RRGGBB"),
        ("color", "#GGGGGG", "six hex digits"),
        ("credentials_strategy", "jwt", "'api_key', 'oauth'"),
        ("config_schema", {"type": "strin"}, "not a valid JSON Schema"),
        ("config_schema", {"properties": {"a": {"minLength": -1}}}, "$.properties.a.minLength"),
        ("config_schema", "not a schema", "must be a JSON Schema object"),
    ],
)
def test_invalid_field_message_names_field_value_and_fix(
    field: str, value: Any, expected: str
) -> None:
    with pytest.raises(ValidationError) as info:
        IntegrationMetadata(**seed_kwargs(**{field: value}))
    text = str(info.value)
    assert field in text
    assert (str(value) if not isinstance(value, dict) else "config_schema") in text
    assert expected in text


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"timeout\n.*Extra inputs are not permitted"):
        IntegrationMetadata(**seed_kwargs(timeout=5))


def test_credentials_provider_required_unless_strategy_none() -> None:
    with pytest.raises(ValidationError, match="credentials_provider None is required"):
        IntegrationMetadata(**seed_kwargs(credentials_provider=None))
    meta = IntegrationMetadata(
        **seed_kwargs(
            id="medref_lookup_drug",
            category="medicine",
            credentials_provider=None,
            credentials_strategy="none",
            side_effect="none",
        )
    )
    assert meta.credentials_strategy is CredentialsStrategy.NONE
    assert meta.side_effect is SideEffect.NONE


@pytest.mark.parametrize(
    ("field", "value"), [("timeout_s", 0), ("timeout_s", -1.5), ("max_attempts", 0)]
)
def test_policy_numbers_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        IntegrationMetadata(**seed_kwargs(**{field: value}))


def test_rate_limits_and_policy_export() -> None:
    meta = IntegrationMetadata(
        **seed_kwargs(
            rate_limits=(
                RateLimit(scope="credential", limit=30, period_s=1),
                {"scope": "target", "limit": 20, "period_s": 60, "target_field": "chat_id"},
            ),
            timeout_s=10,
        )
    )
    assert meta.rate_limits[1].scope is RateLimitScope.TARGET
    policy = meta.policy()
    assert policy["side_effect"] == "non_idempotent"
    assert policy["timeout_s"] == 10
    assert policy["rate_limits"][1] == {
        "scope": "target",
        "limit": 20,
        "period_s": 60.0,
        "target_field": "chat_id",
    }


def test_rate_limit_validation() -> None:
    with pytest.raises(ValidationError, match="needs target_field"):
        RateLimit(scope="target", limit=1, period_s=1)
    with pytest.raises(ValidationError, match="must not set target_field"):
        RateLimit(scope="credential", limit=1, period_s=1, target_field="chat_id")
    with pytest.raises(ValidationError, match="greater than 0"):
        RateLimit(scope="credential", limit=0, period_s=1)


def test_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(reversed(ordered), key=parse_version) == ordered
    assert parse_version("1.0.0+build.5") == parse_version("1.0.0")


def test_config_validation_reports_json_paths() -> None:
    meta = IntegrationMetadata(**seed_kwargs())
    meta.validate_config({"chat_id": 42, "text": "hi"})
    with pytest.raises(InvalidConfigError) as info:
        meta.validate_config({"chat_id": 42, "text": ""})
    assert "$.text: '' should be non-empty" in str(info.value)
    assert info.value.code == 400
    assert info.value.retryable is False


def test_config_validation_lists_all_errors_best_match_first() -> None:
    meta = IntegrationMetadata(**seed_kwargs())
    with pytest.raises(InvalidConfigError) as info:
        meta.validate_config({"text": "x" * 5000, "parse_mode": "Markdown", "extra": 1})
    errors = info.value.errors
    assert len(errors) == 4
    # best_match (a shallow, "weak"-free error) leads; the rest follow by path.
    assert errors[0].startswith("$: ")
    assert [e.split(":")[0] for e in errors[1:]] == sorted(e.split(":")[0] for e in errors[1:])
    assert "$: 'chat_id' is a required property" in errors
    assert any(e.startswith("$.text: ") and "too long" in e for e in errors)
    assert any(e.startswith("$.parse_mode: 'Markdown' is not one of") for e in errors)
    assert any("'extra' was unexpected" in e for e in errors)
    assert "invalid config for 'telegram_send_message' (4 errors)" in str(info.value)
    assert len(str(info.value)) < 1500  # long values are shortened


def test_config_must_be_an_object() -> None:
    meta = IntegrationMetadata(**seed_kwargs())
    with pytest.raises(InvalidConfigError, match=r"\$: config must be a JSON object, got list"):
        meta.validate_config([1, 2])


def test_format_assertions_are_on() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    meta = IntegrationMetadata(**seed_kwargs(config_schema=schema))
    with pytest.raises(InvalidConfigError, match=r"\$.email: 'nope' is not a 'email'"):
        meta.validate_config({"email": "nope"})


def test_compiled_validators_are_cached_across_metadata_instances() -> None:
    a = IntegrationMetadata(**seed_kwargs())
    b = IntegrationMetadata(**seed_kwargs())
    assert compiled_validator(a.config_schema) is compiled_validator(b.config_schema)


def test_base_integration_is_abstract() -> None:
    class Incomplete(BaseIntegration):
        @property
        def metadata(self) -> IntegrationMetadata:
            return IntegrationMetadata(**seed_kwargs())

    with pytest.raises(TypeError, match="execute"):
        Incomplete()  # type: ignore[abstract]
