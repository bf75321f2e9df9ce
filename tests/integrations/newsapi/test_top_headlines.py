"""newsapi_top_headlines against the fake NewsAPI over a real loopback socket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.newsapi.testing import FakeArticle, FakeNewsAPI
from integrations.newsapi.top_headlines import METADATA, NewsAPITopHeadlinesIntegration
from integrations.outcome import OutcomeCategory, classify

Resolver = Callable[[dict[str, Any] | None], Any]


async def headlines(
    action: NewsAPITopHeadlinesIntegration,
    config: dict[str, Any],
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_headlines_by_country_with_the_key_in_a_header(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
) -> None:
    returned = await headlines(action, {"country": "gb"}, resolver, logger, bot_id)
    [call] = fake.calls
    assert (call.key, call.key_via) == (api_key, "header")
    assert call.params == {"country": "gb", "pageSize": "20", "page": "1"}
    assert resolver.calls == [(bot_id, "newsapi", "api_key")]
    result = returned["response"]["result"]
    assert (result["total_results"], result["page"], result["page_size"]) == (2, 1, 20)
    assert result["articles"][0] == {
        "title": "Parliament debates energy bill",
        "description": "Long day.",
        "url": "https://example.com/gb/4",
        "image_url": None,
        "source": "BBC News",
        "source_id": "bbc-news",
        "author": "Reporter 4",
        "published_at": "2026-01-11T10:00:00Z",
    }
    assert all("content" not in a for a in result["articles"])  # kept small
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_sources_keywords_and_paging(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    fake.articles = [
        FakeArticle(f"Tech story {n}", "techcrunch", "TechCrunch", "us", "technology")
        for n in range(7)
    ]
    config = {"sources": ["techcrunch"], "q": "story", "page_size": 3, "page": 3}
    returned = await headlines(action, config, resolver, logger, bot_id)
    assert fake.calls[0].params == {
        "sources": "techcrunch",
        "q": "story",
        "pageSize": "3",
        "page": "3",
    }
    result = returned["response"]["result"]
    assert result["total_results"] == 7
    assert [a["title"] for a in result["articles"]] == ["Tech story 6"]


@pytest.mark.parametrize(
    ("kind", "options", "expected", "code", "category", "words"),
    [
        ("rate_limited", {}, errors.RateLimitedError, 429, OutcomeCategory.RATE_LIMITED, "24 hour"),
        ("api_key_exhausted", {}, errors.PermanentError, 429, OutcomeCategory.PERMANENT, "used up"),
        ("api_key_disabled", {}, errors.AuthError, 401, OutcomeCategory.AUTH, "disabled"),
        ("proxy_error", {}, errors.TransientError, 502, OutcomeCategory.TRANSIENT, "Bad Gateway"),
    ],
)
async def test_injected_errors_become_typed_errors(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
    kind: str,
    options: dict[str, Any],
    expected: type[errors.IntegrationError],
    code: int,
    category: OutcomeCategory,
    words: str,
) -> None:
    fake.inject(kind, **options)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await headlines(action, {"country": "us"}, resolver, logger, bot_id)
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert words in caught.value.message
    assert classify(caught.value).category is category
    assert api_key not in repr(classify(caught.value))
    returned = await headlines(action, {"country": "us"}, resolver, logger, bot_id)
    assert returned["response"]["ok"] is True  # one-shot fault


async def test_developer_plan_paging_past_100_results_is_permanent(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    config = {"country": "us", "page_size": 50, "page": 3}
    with pytest.raises(errors.PermanentError) as caught:
        await headlines(action, config, resolver, logger, bot_id)
    assert caught.value.code == 426
    assert "maximumResultsReached" in caught.value.message
    fake.plan = "business"
    returned = await headlines(action, config, resolver, logger, bot_id)
    assert returned["response"]["result"]["articles"] == []


async def test_values_newsapi_refuses_are_invalid_config(
    action: NewsAPITopHeadlinesIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    # Valid by the schema, refused by NewsAPI: the config's value is what is wrong.
    with pytest.raises(errors.InvalidConfigError) as caught:
        await headlines(action, {"sources": ["no-such-source"]}, resolver, logger, bot_id)
    assert caught.value.code == 400
    assert "sourceDoesNotExist" in caught.value.message
    # A caller that skipped validation: NewsAPI's own parametersMissing.
    with pytest.raises(errors.InvalidConfigError, match="parametersMissing"):
        await action.execute({}, resolver, bot_id, logger)


async def test_wrong_key_is_auth_and_never_leaks(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's request lines included: the key is in a header
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "0000ffff1111eeee2222dddd3333cccc"
    with pytest.raises(errors.AuthError) as caught:
        await headlines(
            action, {"country": "us"}, make_resolver({"api_key": wrong}), logger, bot_id
        )
    assert "apiKeyInvalid" in caught.value.message
    assert fake.calls[0].status == 401
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert "NewsAPI request failed" in caplog.text
    assert wrong not in caplog.text


async def test_malformed_credentials_name_the_field(
    action: NewsAPITopHeadlinesIntegration,
    fake: FakeNewsAPI,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
) -> None:
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await action.execute({"country": "us"}, make_resolver({"key": "x"}), bot_id, logger)
    assert fake.calls == []


def test_metadata_values() -> None:
    meta = NewsAPITopHeadlinesIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "newsapi_top_headlines",
        "1.0.0",
        "news",
    )
    assert (meta.icon_s3_key, meta.color) == ("icons/integrations/newsapi.svg", "#1E73BE")
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("newsapi", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("none", False)
