"""googletranslate_translate against the fake Translation v2 API over a real loopback socket.

Only what is Google Translate's own: the cases every integration shares are in
``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.googletranslate.testing import FakeGoogleTranslate
from integrations.googletranslate.translate import GoogleTranslateTranslateIntegration
from integrations.outcome import OutcomeCategory, classify
from support.integrations import Run

Resolver = Callable[[dict[str, Any] | None], Any]
HELLO = {"text": "Hello", "target": "ru"}


async def test_a_string_is_translated_and_the_source_detected(
    run: Run, fake: FakeGoogleTranslate, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({"text": "Hello, world!", "target": "ru"})
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


@pytest.mark.parametrize(
    ("config", "sent", "result"),
    [
        # A list, with its source given: nothing detected; format "text" keeps the quote.
        ({"text": ["Привет", "it's"], "target": "en", "source": "ru"},
         {"q": ["Привет", "it's"], "target": "en", "source": "ru", "format": "text"},
         {"target": "en", "translations": [{"text": "Hi"}, {"text": "[en] it's"}]}),
        # format "html" gets Google's own escaping.
        ({"text": "it's <b>", "target": "de", "format": "html"},
         {"q": ["it's <b>"], "target": "de", "format": "html"},
         {"target": "de", "text": "[de] it&#39;s &lt;b&gt;",
          "translations": [{"text": "[de] it&#39;s &lt;b&gt;", "detected_source_language": "en"}]}),
    ],
    ids=["list-with-source", "html"],
)  # fmt: skip
async def test_what_is_sent_and_what_comes_back(
    run: Run,
    fake: FakeGoogleTranslate,
    config: dict[str, Any],
    sent: dict[str, Any],
    result: dict[str, Any],
) -> None:
    assert (await run(config))["response"]["result"] == result
    assert fake.calls[0].body == sent


async def test_more_than_5000_characters_in_all_are_refused_before_any_call(
    run: Run, fake: FakeGoogleTranslate
) -> None:
    config = {"text": ["x" * 3000, "y" * 2001], "target": "ru"}  # each fits the schema
    with pytest.raises(errors.InvalidConfigError, match=r"\$\.text: 5001 characters"):
        await run(config)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "status", "reason", "expected", "category", "code", "retry_after"),
    [
        # Google's per-minute rate limit comes as a 403, not a 429 ...
        ("user_rate_limit", 403, "userRateLimitExceeded", errors.RateLimitedError,
         OutcomeCategory.RATE_LIMITED, 429, None),
        ("rate_limit_429", 429, "rateLimitExceeded", errors.RateLimitedError,
         OutcomeCategory.RATE_LIMITED, 429, 30.0),
        ("daily_limit", 403, "dailyLimitExceeded", errors.PermanentError, OutcomeCategory.PERMANENT,
         403, None),
        # ... and a bad key as a 400.
        ("key_invalid", 400, "API_KEY_INVALID", errors.AuthError, OutcomeCategory.AUTH, 401, None),
        ("api_disabled", 403, "accessNotConfigured", errors.AuthError, OutcomeCategory.AUTH, 403,
         None),
    ],
)  # fmt: skip
async def test_google_errors_become_typed_errors(
    run: Run,
    fake: FakeGoogleTranslate,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    status: int,
    reason: str,
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    code: int,
    retry_after: float | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger=logger.logger.name)
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await run(HELLO)
    error = caught.value
    outcome = classify(error)
    assert (type(error), error.code, outcome.category) == (expected, code, category)
    assert outcome.retry_after_s == retry_after
    assert fake.calls[0].status == status
    assert reason in error.message
    assert "Google Translate request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text


async def test_a_retry_after_header_wins_over_googles_retry_info(
    run: Run, fake: FakeGoogleTranslate
) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
    error = {"code": 429, "errors": [{"reason": "rateLimitExceeded"}], "details": [retry_info]}
    fake.fail_next(429, body={"error": error}, headers={"Retry-After": "5"})
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(HELLO)
    assert caught.value.retry_after_s == 5


async def test_an_unknown_target_language_is_invalid_config(
    run: Run, fake: FakeGoogleTranslate
) -> None:
    # Valid by the schema, refused by Google with its own 400: the config's value is wrong.
    with pytest.raises(errors.InvalidConfigError, match="Invalid Value"):
        await run({"text": "Hello", "target": "xx"})
    assert fake.calls[0].status == 400


async def test_a_rejected_credential_is_auth_with_the_providers_reason(
    run: Run,
    fake: FakeGoogleTranslate,
    logger: BotLogger,
    make_resolver: Resolver,
) -> None:
    wrong = "AIzaSyWRONG-translate-key-never-logged0"
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver({"api_key": wrong}))
    assert fake.calls[0].params["key"] == wrong
    assert "API key not valid" in caught.value.message
    assert wrong not in repr(classify(caught.value, secrets=logger.secrets))


async def test_the_key_may_be_stored_as_key_but_not_empty(
    run: Run, fake: FakeGoogleTranslate, api_key: str, make_resolver: Resolver
) -> None:
    returned = await run(HELLO, credentials=make_resolver({"key": api_key}))
    assert returned["response"]["ok"] is True
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(HELLO, credentials=make_resolver({"api_key": ""}))
    assert len(fake.calls) == 1  # the malformed credentials called nothing


def test_metadata_keeps_under_googles_per_minute_character_quota() -> None:
    meta = GoogleTranslateTranslateIntegration().metadata
    assert (meta.category.value, meta.side_effect.value) == ("translation", "none")
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 1200, 60.0)
    ]
