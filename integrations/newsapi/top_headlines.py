"""``newsapi_top_headlines``: breaking-news headlines by country, category, source or keywords."""

from __future__ import annotations

from typing import Any, ClassVar

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.http import KeyedHttpIntegration
from integrations.newsapi.client import API_KEY, DEFAULT_BASE_URL, NEWSAPI, NewsAPI
from integrations.outcome import ok

CATEGORIES = ("business", "entertainment", "general", "health", "science", "sports", "technology")

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "country": {
            "type": "string",
            "pattern": "^[a-z]{2}$",
            "description": "2-letter ISO 3166-1 code, lowercase, e.g. us; not with sources",
        },
        "category": {"enum": list(CATEGORIES), "description": "Not with sources"},
        "sources": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9.-]{0,99}$"},
            "description": "Source ids, e.g. bbc-news; not with country or category",
        },
        "q": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Keywords"},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "page": {"type": "integer", "minimum": 1, "default": 1},
    },
    # NewsAPI answers parametersMissing without one of these, and refuses to mix sources with
    # country/category; both are said here, before any call.
    "anyOf": [
        {"required": ["country"]},
        {"required": ["category"]},
        {"required": ["sources"]},
        {"required": ["q"]},
    ],
    "not": {"anyOf": [{"required": ["sources", "country"]}, {"required": ["sources", "category"]}]},
    "additionalProperties": False,
}

METADATA = NEWSAPI.action(
    "top_headlines",
    name="NewsAPI Top Headlines",
    description="Fetch live top headlines from NewsAPI.org by country, category, sources or "
    "keywords.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a GET: safe to repeat
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=15.0,
    max_attempts=3,
    # None declared: NewsAPI's limits are per plan (Developer: 100 requests per 24 h, 50 per
    # 12 h; paid plans far more), and a static limit sized for one would starve or mislead the
    # other. NewsAPI's 429 rateLimited is handled when it comes.
    rate_limits=(),
)


def _params(config: dict[str, Any]) -> dict[str, str | int]:
    params: dict[str, str | int] = {
        key: config[key] for key in ("country", "category", "q") if key in config
    }
    if "sources" in config:
        params["sources"] = ",".join(config["sources"])
    params["pageSize"] = config.get("page_size", 20)
    params["page"] = config.get("page", 1)
    return params


def _article(raw: dict[str, Any]) -> dict[str, Any]:
    # "content" is left out: NewsAPI cuts it at 200 chars ("… [+1234 chars]"), and results stay
    # small; the url leads to the full text.
    source = raw.get("source")
    if not isinstance(source, dict):
        source = {}
    return {
        "title": raw.get("title"),
        "description": raw.get("description"),
        "url": raw.get("url"),
        "image_url": raw.get("urlToImage"),
        "source": source.get("name"),
        "source_id": source.get("id"),
        "author": raw.get("author"),
        "published_at": raw.get("publishedAt"),
    }


class NewsAPITopHeadlinesIntegration(KeyedHttpIntegration):
    """Fetch top headlines from NewsAPI.org (``GET /v2/top-headlines``, key in ``X-Api-Key``).

    Config: at least one of ``country`` (e.g. ``us``), ``category``, ``sources`` (ids, ≤20, not
    with country/category) or ``q``; ``page_size`` (1–100, default 20) and ``page``. Credentials:
    ``{"api_key": "..."}``. Returns ``{"total_results", "page", "page_size", "articles": [{title,
    description, url, image_url, source, source_id, author, published_at}]}``.
    """

    service: ClassVar[str] = NEWSAPI.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = NewsAPI()
    secret = API_KEY
    http_timeout_s: ClassVar[float] = 10.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        params = _params(config)
        # The key goes in a header, never the apiKey query parameter: URLs end up in logs.
        reply = await self.call(
            "GET", "top-headlines", params=params, headers={"X-Api-Key": key},
            secrets=[key], logger=logger,
        )  # fmt: skip
        body = reply.body
        raw_articles = body.get("articles")
        if not isinstance(raw_articles, list):
            raw_articles = []
        articles = [_article(a) for a in raw_articles if isinstance(a, dict)]
        logger.info("newsapi headlines fetched", count=len(articles))
        return ok(
            {
                "total_results": body.get("totalResults", len(articles)),
                "page": params["page"],
                "page_size": params["pageSize"],
                "articles": articles,
            }
        )
