"""``rss_read_feed``: the latest entries of an RSS or Atom feed (Dzen's, or any other)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from integrations.base import (
    CredentialsResolverLike,
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.outcome import ok
from integrations.rss.client import FEEDS, MAX_URL_CHARS, FeedIntegration, where
from integrations.rss.feed import NotAFeedError, parse_feed

MAX_ENTRIES = 25

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "minLength": 10,
            "maxLength": MAX_URL_CHARS,
            # http(s) only, no user info (no "@" before the path); linear: the host part cannot
            # contain the character that starts the rest.
            "pattern": r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$",
            "description": "The feed's http(s) URL: a Dzen channel's, a news site's, any "
            "RSS/Atom feed; plain http is only reached where the deployment allows it",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ENTRIES,
            "default": 10,
            "description": "How many of the latest entries to return (1-25)",
        },
        "include_content": {
            "type": "boolean",
            "default": False,
            "description": "Also return each entry's full content as text (clipped to 1500 "
            "characters); by default only its summary",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}

METADATA = FEEDS.action(
    "read_feed",
    name="RSS Read Feed",
    description="Read the latest entries (title, link, date, summary) of an RSS or Atom news "
    "feed, such as a Dzen (Yandex News) feed. Needs no credentials.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,
    timeout_s=25.0,  # above the fetch's 15 s deadline plus parsing
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # There is no per-host scope: this limits each feed URL, across all bots (a keyless
    # action counts in one shared bucket), to a polite one request a second on average.
    rate_limits=(
        RateLimit(scope=RateLimitScope.TARGET, limit=60, period_s=60.0, target_field="url"),
    ),
).model_copy(update={"credentials_provider": None})  # keyless: nothing for the worker to fetch


class RssReadFeedIntegration(FeedIntegration):
    """Read a feed's latest entries: ``GET <url>``, parsed with feedparser from the bytes.

    Config: ``url`` (http(s)), ``limit`` (1-25, default 10) and ``include_content``. No
    credentials. Returns ``{"feed": {"title", "link", "subtitle", "version"}, "entries": [{"id",
    "title", "link", "published", "summary"[, "content"]}], "count", "total"}``: entries latest
    first (``published`` in ISO 8601 UTC, or ``None`` when the feed gives no date), all text
    plain and clipped; ``total`` is how many entries the feed holds. A body that is not a feed
    (an HTML page, nothing) is a :class:`~integrations.errors.PermanentError`.
    """

    metadata = METADATA

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        fetched = await self.fetch(config["url"], logger=logger)
        # feedparser is pure Python: parsing a 1 MiB feed must not hold up the worker's event loop.
        try:
            feed = await asyncio.to_thread(
                parse_feed, fetched.body, fetched.headers, where=f"RSS {where(fetched.url)}"
            )
        except NotAFeedError as error:
            logger.warning("RSS feed refused: %s", error.message, category=error.category.value)
            raise
        content = bool(config.get("include_content", False))
        latest = feed.entries[: int(config.get("limit", 10))]
        logger.info("rss feed read", entries=len(latest), total=len(feed.entries))
        return ok(
            {
                "feed": {
                    "title": feed.title,
                    "link": feed.link,
                    "subtitle": feed.subtitle,
                    "version": feed.version,
                },
                "entries": [entry.as_dict(content=content) for entry in latest],
                "count": len(latest),
                "total": len(feed.entries),
            }
        )
