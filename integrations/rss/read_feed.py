"""``rss_read_feed``: the latest entries of an RSS or Atom feed (Dzen's, or any other)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
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
from integrations.rss.feed import Feed, NotAFeedError, parse_feed

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


_PARSING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def parsed(body: bytes, headers: Mapping[str, str], *, where: str) -> Feed:
    """``parse_feed`` in a thread, one at a time per worker.

    feedparser is pure Python (seconds of CPU per MiB of hostile input): in a thread it does not
    block the event loop, but every parsing thread takes the GIL from it. One at a time bounds
    what a tenant's feeds can take from everyone else's requests; a parse whose action timed out
    keeps the slot until its thread ends, since a thread cannot be stopped.
    """
    loop = asyncio.get_running_loop()
    slot = _PARSING.setdefault(loop, asyncio.Semaphore(1))
    await slot.acquire()
    thread = asyncio.ensure_future(asyncio.to_thread(parse_feed, body, headers, where=where))

    def done(task: asyncio.Future[Feed]) -> None:
        slot.release()
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned parse's error is not "never retrieved"

    thread.add_done_callback(done)
    return await asyncio.shield(thread)


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
        try:
            feed = await parsed(fetched.body, fetched.headers, where=f"RSS {where(fetched.url)}")
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
