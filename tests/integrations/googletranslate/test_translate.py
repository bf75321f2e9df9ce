"""googletranslate_translate against the fake Translation v2 API over a real loopback socket."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.googletranslate.testing import FakeGoogleTranslate
from integrations.googletranslate.translate import METADATA, GoogleTranslateTranslateIntegration
from integrations.outcome import OutcomeCategory, classify


async def translate(
    action: GoogleTranslateTranslateIntegration,
    config: dict[str, Any],
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_a_string_is_translated_and_the_source_detected(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    api_key: str,
    logger: BotLogger,
) -> None:
    returned = await translate(
        action, {"text": "Hello, world!", "target": "ru"}, resolver, bot_id, logger
    )
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "target": "ru",
        "translations": [{"text": "Привет, мир!", "detected_source_language": "en"}],
        "text": "Привет, мир!",
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/language/translate/v2")
    assert call.params == {"key": api_key}
    assert call.body == {"q": ["Hello, world!"], "target": "ru", "format": "text"}
    assert call.headers["Content-Type"] == "application/json"
    assert resolver.calls == [(bot_id, "googletranslate", "api_key")]
    assert api_key not in repr(returned)


async def test_a_list_with_a_source_and_text_format_keeps_quotes(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {"text": ["Привет", "it's"], "target": "en", "source": "ru"}
    result = (await translate(action, config, resolver, bot_id, logger))["response"]["result"]
    assert result == {
        "target": "en",
        "translations": [{"text": "Hi"}, {"text": "[en] it's"}],  # no detection: source given
    }
    assert fake.calls[0].body["source"] == "ru"


async def test_html_format_gets_googles_escaping(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {"text": "it's <b>", "target": "de", "format": "html"}
    result = (await translate(action, config, resolver, bot_id, logger))["response"]["result"]
    assert result["text"] == "[de] it&#39;s &lt;b&gt;"


async def test_more_than_5000_characters_in_all_are_refused_before_any_call(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {"text": ["x" * 3000, "y" * 2001], "target": "ru"}  # each fits the schema
    with pytest.raises(InvalidConfigError, match=r"\$\.text: 5001 characters"):
        await translate(action, config, resolver, bot_id, logger)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "expected", "category", "code", "retry_after"),
    [
        ("user_rate_limit", RateLimitedError, OutcomeCategory.RATE_LIMITED, 429, None),
        ("rate_limit_429", RateLimitedError, OutcomeCategory.RATE_LIMITED, 429, 30.0),
        ("daily_limit", PermanentError, OutcomeCategory.PERMANENT, 403, None),
        ("key_invalid", AuthError, OutcomeCategory.AUTH, 401, None),
        ("api_disabled", AuthError, OutcomeCategory.AUTH, 403, None),
        ("invalid_value", InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400, None),
    ],
)
async def test_google_errors_become_typed_errors(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[IntegrationError],
    category: OutcomeCategory,
    code: int,
    retry_after: float | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.googletranslate")
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await translate(action, {"text": "Hello", "target": "ru"}, resolver, bot_id, logger)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    outcome = classify(error)
    assert outcome.category is category
    assert outcome.retry_after_s == retry_after
    if kind == "user_rate_limit":
        assert fake.calls[0].status == 403  # Google's rate limit is a 403, not a 429
        assert "userRateLimitExceeded" in error.message
    if kind == "key_invalid":
        assert fake.calls[0].status == 400  # and a bad key is a 400
    assert "Google Translate request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text
    returned = await translate(action, {"text": "Hello", "target": "ru"}, resolver, bot_id, logger)
    assert returned["response"]["ok"] is True  # one-shot fault: the next call works


async def test_a_rejected_key_never_reaches_messages_or_logs(
    fake: FakeGoogleTranslate,
    action: GoogleTranslateTranslateIntegration,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs the URL, ?key=... included
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "AIzaSyWRONG-translate-key-never-logged0"
    resolver = make_resolver({bot_id: {"api_key": wrong}})
    with pytest.raises(AuthError) as caught:
        await translate(action, {"text": "Hello", "target": "ru"}, resolver, bot_id, logger)
    assert fake.calls[0].params["key"] == wrong
    assert "API key not valid" in caught.value.message
    assert wrong not in repr(classify(caught.value, secrets=logger.secrets))
    assert wrong not in caplog.text


async def test_an_unknown_target_language_is_invalid_config(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    with pytest.raises(InvalidConfigError, match="Invalid Value"):
        await translate(action, {"text": "Hello", "target": "xx"}, resolver, bot_id, logger)
    assert fake.calls[0].status == 400


async def test_a_retry_after_header_wins_over_googles_retry_info(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded",
            "errors": [{"reason": "rateLimitExceeded"}],
            "details": [retry_info],
        }
    }
    fake.fail_next(429, body=body, headers={"Retry-After": "5"})
    with pytest.raises(RateLimitedError) as caught:
        await translate(action, {"text": "Hello", "target": "ru"}, resolver, bot_id, logger)
    assert caught.value.retry_after_s == 5


async def test_credentials_without_a_key_name_the_field(
    action: GoogleTranslateTranslateIntegration,
    fake: FakeGoogleTranslate,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    config = {"text": "Hello", "target": "ru"}
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute(config, make_resolver({bot_id: {"token": ""}}), bot_id, logger)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"target": "ru"}, "text"),
        ({"text": "x"}, "target"),
        ({"text": "", "target": "ru"}, "text"),
        ({"text": [], "target": "ru"}, "text"),
        ({"text": ["x"] * 129, "target": "ru"}, "text"),
        ({"text": "x" * 5001, "target": "ru"}, "text"),
        ({"text": 5, "target": "ru"}, "text"),
        ({"text": "x", "target": "russian"}, "target"),
        ({"text": "x", "target": "ru", "source": "r"}, "source"),
        ({"text": "x", "target": "ru", "format": "markdown"}, "format"),
        ({"text": "x", "target": "ru", "model": "nmt"}, "model"),
    ],
)
def test_config_schema_rejects_before_any_call(config: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert path in caught.value.message


def test_metadata_values() -> None:
    meta = GoogleTranslateTranslateIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "googletranslate_translate",
        "1.0.0",
        "translation",
    )
    assert meta.icon_s3_key == "icons/integrations/googletranslate.svg"
    assert (meta.credentials_provider, meta.credentials_strategy.value) == (
        "googletranslate",
        "api_key",
    )
    assert (meta.library_name, meta.side_effect.value) == ("httpx", "none")
    assert [(r.limit, r.period_s) for r in meta.rate_limits] == [(1200, 60.0)]
