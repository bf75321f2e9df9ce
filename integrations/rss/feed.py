"""Reading a feed's bytes with feedparser, safely: no fetching, no entity expansion, bounded text.

feedparser is only ever handed the bytes our HTTP seam already read (in a ``BytesIO``): given a
``str`` or ``bytes`` it would open a URL, or a local file whose name the body happens to be. Its
own defences are partial: it strips ``<!DOCTYPE>`` and turns off external entities, but keeps
"safe" entity declarations (a literal without ``&``) and expands them without limit in its
fallback parser: a 60 KB feed with one 1 KB entity referenced 20,000 times becomes a 20 MB
title. So a document that declares any entity other than a short literal is refused before
feedparser sees it, judged on the text as feedparser itself decodes it
(:func:`feedparser.encodings.convert_to_utf8`), so no encoding trick hides a declaration.

Everything returned is plain text: HTML is reduced to its text, control, bidi-override and
surrogate characters are removed, whitespace is collapsed and each field is clipped, so a
result is bounded (25 entries of at most 300 + 1024 + 256 + 500 + 1500 characters).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser  # type: ignore[import-untyped]  # ships no type information
from feedparser.encodings import convert_to_utf8  # type: ignore[import-untyped]

from integrations.errors import PermanentError

__all__ = ["ENTITY_LIMIT", "Entry", "Feed", "NotAFeedError", "parse_feed"]

TITLE_CHARS, SUMMARY_CHARS, CONTENT_CHARS = 300, 500, 1500
ID_CHARS, LINK_CHARS = 256, 1024
#: A declared entity is tolerated only as a short literal (old feeds declare ``&nbsp;`` so).
ENTITY_LIMIT = 16
_MAX_ENTITIES = 64
_HTML_INPUT_CHARS = 64 * 1024  # HTML reduced to text: enough for any clipped field

_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_SHORT_LITERAL = re.compile(
    rb'<!ENTITY\s+\w{1,64}\s+"(?:&#\w{1,8};|[^&%%"<]{0,%d})"\s*>' % ENTITY_LIMIT
)
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


class NotAFeedError(PermanentError):
    """The answer is not an RSS or Atom feed (an HTML page, garbage, nothing)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry as a bot gets it: plain, clipped text."""

    id: str | None
    title: str | None
    link: str | None
    published: str | None  # ISO 8601 in UTC, e.g. "2026-12-03T09:30:00Z"
    summary: str | None
    content: str | None

    def as_dict(self, *, content: bool) -> dict[str, Any]:
        shown = {"id": self.id, "title": self.title, "link": self.link,
                 "published": self.published, "summary": self.summary}  # fmt: skip
        return {**shown, "content": self.content} if content else shown


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed feed: its title, link and description, and every entry, latest first."""

    version: str
    title: str | None
    link: str | None
    subtitle: str | None
    entries: tuple[Entry, ...]


def parse_feed(body: bytes, headers: Mapping[str, str], *, where: str) -> Feed:
    """Parse ``body`` (served with ``headers``: content-type and the feed's URL as
    content-location); :class:`NotAFeedError` when it is not a feed or declares entities."""
    if not body.strip():
        raise NotAFeedError(f"{where}: the answer is empty, not a feed")
    known = {key: value for key, value in headers.items() if value}
    _refuse_entities(convert_to_utf8(dict(known), body, {}), where)
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=dict(known))
    except Exception as exc:  # a parser of hostile bytes: any failure of it is the feed's
        raise NotAFeedError(f"{where}: the feed cannot be parsed ({type(exc).__name__})") from None
    title = _text(parsed.feed.get("title"), TITLE_CHARS)
    if not parsed.entries and not title:
        why = parsed.get("bozo_exception")
        detail = f" ({type(why).__name__}: {_text(str(why), 120)})" if why is not None else ""
        raise NotAFeedError(
            f"{where}: the answer is not an RSS or Atom feed{detail}; check the url"
        )
    entries = [_entry(raw) for raw in parsed.entries]
    # Latest first; undated entries keep their order, after the dated ones (a stable sort).
    entries.sort(key=lambda entry: entry.published or "", reverse=True)
    return Feed(
        version=str(parsed.get("version") or "unknown"),
        title=title,
        link=_link(parsed.feed.get("link")),
        subtitle=_text(_html_text(parsed.feed.get("subtitle_detail")), SUMMARY_CHARS),
        entries=tuple(entries),
    )


def _refuse_entities(text: bytes, where: str) -> None:
    for count, found in enumerate(_DECLARATION.finditer(text), start=1):
        if count > _MAX_ENTITIES or not _SHORT_LITERAL.match(text, found.start()):
            raise NotAFeedError(
                f"{where}: the feed declares XML entities (<!ENTITY>) that expand, or refer to "
                "other documents; refused, as expanding them could exhaust memory"
            )


def _entry(raw: Any) -> Entry:
    content = raw.get("content")
    first = content[0] if isinstance(content, list) and content else None
    return Entry(
        id=_text(raw.get("id"), ID_CHARS),
        title=_text(_html_text(raw.get("title_detail")) or raw.get("title"), TITLE_CHARS),
        link=_link(raw.get("link")),
        published=_iso(raw.get("published_parsed") or raw.get("updated_parsed")),
        summary=_text(_html_text(raw.get("summary_detail")), SUMMARY_CHARS),
        content=_text(_html_text(first), CONTENT_CHARS),
    )


def _iso(parsed: Any) -> str | None:
    """feedparser's UTC ``struct_time`` as ISO 8601 (``Z``); ``None`` for none or nonsense."""
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        when = datetime(*parsed[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if 1 <= when.year <= 9999 else None


def _link(value: Any) -> str | None:
    """An http(s) link, or ``None`` (a ``javascript:`` link must not reach a chat)."""
    link = _text(value, LINK_CHARS + 1)
    if link is None or len(link) > LINK_CHARS or " " in link:
        return None
    return link if urlsplit(link).scheme.lower() in ("http", "https") else None


def _html_text(detail: Any) -> str | None:
    """The text of a feedparser ``*_detail`` (HTML reduced to its text, other types as they are)."""
    if not isinstance(detail, Mapping) or not isinstance(detail.get("value"), str):
        return None
    value: str = detail["value"][:_HTML_INPUT_CHARS]
    if "html" not in str(detail.get("type") or ""):
        return value
    reader = _TextOf()
    reader.feed(value)
    reader.close()
    return "".join(reader.parts)


def _text(value: Any, limit: int) -> str | None:
    """``value`` as one clean line of at most ``limit`` characters, or ``None`` if empty."""
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", _UNSAFE.sub("", value[: limit * 4])).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _TextOf(HTMLParser):
    """The text of an HTML fragment: data outside ``script``/``style``, blocks spaced apart."""

    _SKIPPED = frozenset({"script", "style"})
    _BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)
