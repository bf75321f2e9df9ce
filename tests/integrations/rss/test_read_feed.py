"""rss_read_feed against a fake feed host over a real loopback socket.

Only what is the feed reader's own: the cases every integration shares are in
``../test_contract.py``. The fake's address is allowed by the ``LOOPBACK`` egress exception
(``../conftest.py``'s ``clients``); the tests of the egress policy itself use clients without it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from integrations import errors
from integrations.egress import EgressRefusedError
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from integrations.rss.client import MAX_FEED_BYTES, FeedIntegration
from integrations.rss.feed import NotAFeedError, parse_feed
from integrations.rss.read_feed import RssReadFeedIntegration
from integrations.rss.testing import LOL_RSS, FakeFeeds
from support.integrations import Run

NEWEST = {
    "id": "story-3",
    "title": "Newest story",  # the feed's U+202E (a bidi override) is gone
    "published": "2026-12-03T05:30:00Z",  # 08:30 +0300
    "summary": "Plain text over lines",
}


async def test_an_rss_feed_gives_its_latest_entries_first_as_plain_text(
    run: Run, fake: FakeFeeds, resolver: Any
) -> None:
    returned = await run({"url": fake.feed_url("news.rss")})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    result = returned["response"]["result"]
    assert result["feed"] == {
        "title": "Example News",
        "link": "https://news.example/",
        "subtitle": "Stories & more",
        "version": "rss20",
    }
    assert (result["count"], result["total"]) == (3, 3)
    assert result["entries"] == [
        {**NEWEST, "link": f"{fake.url}/3"},  # relative: resolved against the feed's URL
        {
            "id": "https://news.example/2",
            "title": "Second story",
            "link": "https://news.example/2",
            "published": "2026-12-02T09:00:00Z",
            "summary": "Hello world",  # HTML reduced to its text, the script dropped
        },
        {
            "id": None,
            "title": "Undated story",
            "link": None,  # javascript: never reaches a chat
            "published": None,
            "summary": "No date here",
        },
    ]
    [call] = fake.calls
    assert (call.method, call.path) == ("GET", "/feeds/news.rss")
    assert "application/rss+xml" in call.headers["Accept"]
    assert call.headers["User-Agent"] == "actionstream"
    assert resolver.calls == []  # keyless: no credentials are looked up


async def test_limit_keeps_the_latest_and_total_counts_them_all(run: Run, fake: FakeFeeds) -> None:
    result = (await run({"url": fake.feed_url("news.rss"), "limit": 1}))["response"]["result"]
    assert [entry["id"] for entry in result["entries"]] == ["story-3"]
    assert (result["count"], result["total"]) == (1, 3)


@pytest.mark.parametrize("name", ["dzen.rss", "cp1251.rss"])
async def test_a_dzen_feed_in_russian_with_its_content_on_request(
    run: Run, fake: FakeFeeds, name: str
) -> None:
    summary_only = (await run({"url": fake.feed_url(name)}))["response"]["result"]
    assert summary_only["feed"]["title"] == "Новости — Дзен"
    first = summary_only["entries"][0]
    assert first == {
        "id": "https://dzen.ru/news/story/kurs-rublya",
        "title": "Курс рубля укрепился",
        "link": "https://dzen.ru/news/story/kurs-rublya",
        "published": "2026-12-03T09:00:00Z",  # 12:00 Moscow time
        "summary": "Рубль вырос к доллару.",
    }
    config = {"url": fake.feed_url(name), "include_content": True}
    entries = (await run(config))["response"]["result"]["entries"]
    assert [entry["content"] for entry in entries] == ["Рубль вырос к доллару и евро.", None]


async def test_an_atom_feed(run: Run, fake: FakeFeeds) -> None:
    config = {"url": fake.feed_url("atom.xml"), "include_content": True}
    result = (await run(config))["response"]["result"]
    assert result["feed"]["title"] == "Atom Example"
    assert (result["feed"]["subtitle"], result["feed"]["version"]) == ("A fine feed", "atom10")
    assert result["entries"] == [
        {
            "id": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
            "title": "Atom entry",
            "link": "https://atom.example/entry-1",
            "published": "2026-12-03T09:00:00Z",  # updated, +01:00
            "summary": "Short",
            "content": "Long text",
        }
    ]


async def test_a_feed_without_entries_is_a_success(run: Run, fake: FakeFeeds) -> None:
    result = (await run({"url": fake.feed_url("empty.rss")}))["response"]["result"]
    assert (result["feed"]["title"], result["entries"], result["total"]) == ("Quiet", [], 0)


def _status_200(body: bytes) -> Any:
    return lambda fake: fake.fail_next(200, body=body, headers={"Content-Type": "text/plain"})


@pytest.mark.parametrize(
    ("path", "arrange", "says"),
    [
        ("/page.html", None, "not an RSS or Atom feed"),
        ("/garbage.bin", None, "not an RSS or Atom feed"),
        ("/feeds/news.rss", _status_200(b""), "the answer is empty"),
        # feedparser opens a str or bytes it is given as a URL or a file: it only ever gets bytes
        # in a stream, so a body naming a file is just text that is not a feed.
        ("/feeds/news.rss", _status_200(b"/etc/hostname"), "not an RSS or Atom feed"),
    ],
    ids=["html-page", "garbage", "empty", "a-file-name"],
)
async def test_a_body_that_is_not_a_feed_is_permanent(
    run: Run, fake: FakeFeeds, path: str, arrange: Any, says: str
) -> None:
    if arrange is not None:
        arrange(fake)
    with pytest.raises(NotAFeedError, match=says) as caught:
        await run({"url": fake.url + path})
    outcome = classify(caught.value)
    assert (outcome.category, outcome.maybe_executed) == (OutcomeCategory.PERMANENT, False)


async def test_a_body_naming_a_url_is_not_fetched_by_feedparser(run: Run, fake: FakeFeeds) -> None:
    fake.fail_next(200, body=f"{fake.url}/secret".encode(), headers={"Content-Type": "text/xml"})
    with pytest.raises(NotAFeedError):
        await run({"url": fake.feed_url("news.rss")})
    assert [call.path for call in fake.calls] == []  # the fault answered; nothing else came


@pytest.mark.parametrize("name", ["lol.rss", "quadratic.rss", "xxe.rss"])
async def test_entity_declarations_are_refused_before_parsing(
    run: Run, fake: FakeFeeds, name: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(NotAFeedError, match="declares XML entities"):
        await run({"url": fake.feed_url(name)})
    assert time.perf_counter() - started < 2.0  # nothing was expanded
    assert [call.path for call in fake.calls] == [f"/feeds/{name}"]  # no /secret fetched


async def test_an_external_dtd_is_never_fetched(run: Run, fake: FakeFeeds) -> None:
    result = (await run({"url": fake.feed_url("dtd.rss")}))["response"]["result"]
    assert result["feed"]["title"] == "With a DTD"
    assert [call.path for call in fake.calls] == ["/feeds/dtd.rss"]  # not /evil.dtd


def test_an_entity_hidden_by_the_encoding_is_still_refused() -> None:
    body = LOL_RSS.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    encoded = body.encode("utf-16")  # with a BOM: a byte search for "<!ENTITY" finds nothing
    assert b"<!ENTITY" not in encoded
    with pytest.raises(NotAFeedError, match="declares XML entities"):
        parse_feed(encoded, {"content-type": "application/xml"}, where="test")


def test_a_short_literal_entity_is_tolerated() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n]>\n'
        b'<rss version="2.0"><channel><title>A&nbsp;B</title></channel></rss>'
    )
    assert parse_feed(body, {"content-type": "application/rss+xml"}, where="test").title == "A B"


def test_control_characters_long_links_and_bad_dates_are_dropped() -> None:
    body = (
        '<rss version="2.0"><channel><title>T</title><item>'
        "<title>x&#x7;y\u202ez\x1b</title><link>https://e.example/" + "p" * 2000 + "</link>"
        "<pubDate>not a date</pubDate></item></channel></rss>"
    ).encode()
    [entry] = parse_feed(body, {"content-type": "application/rss+xml"}, where="test").entries
    assert entry.title is not None
    assert not {"\x07", "\u202e", "\x1b"} & set(entry.title)
    assert (entry.link, entry.published) == (None, None)  # a link over 1024 chars: dropped


def test_a_long_title_is_clipped() -> None:
    body = f'<rss version="2.0"><channel><title>{"Ж" * 5000}</title></channel></rss>'.encode()
    feed = parse_feed(body, {"content-type": "application/rss+xml"}, where="test")
    assert feed.title is not None and len(feed.title) == 300 and feed.title.endswith("…")


async def test_an_oversized_body_is_refused_while_it_streams(run: Run, fake: FakeFeeds) -> None:
    with pytest.raises(errors.PermanentError, match=f"over {MAX_FEED_BYTES} bytes") as caught:
        await run({"url": fake.feed_url("huge.rss")})
    assert classify(caught.value).maybe_executed is False


async def test_a_body_trickling_in_ends_at_the_fetch_deadline(
    run: Run, fake: FakeFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FeedIntegration, "fetch_deadline_s", 1.0)
    started = time.perf_counter()
    with pytest.raises(errors.TransientError, match="no answer in time") as caught:
        await run({"url": fake.feed_url("slow.rss")})  # a chunk every 0.2 s: no read times out
    assert time.perf_counter() - started < 3.0
    outcome = classify(caught.value)
    assert (outcome.category, outcome.maybe_executed) == (OutcomeCategory.TRANSIENT, False)


async def test_redirects_are_followed_each_through_the_seam(run: Run, fake: FakeFeeds) -> None:
    result = (await run({"url": f"{fake.url}/moved"}))["response"]["result"]
    assert result["feed"]["title"] == "Example News"
    assert [call.path for call in fake.calls] == ["/moved", "/feeds/news.rss"]


@pytest.mark.parametrize(
    ("path", "expected", "says", "calls"),
    [
        ("/loop", errors.PermanentError, "more than 3 redirects", 4),
        ("/to-ftp", errors.PermanentError, "not an http(s) URL", 1),
        # The metadata address is refused by the egress policy before any connection.
        ("/to-metadata", EgressRefusedError, "169.254.169.254", 1),
    ],
)
async def test_a_bad_redirect_is_permanent(
    run: Run, fake: FakeFeeds, path: str, expected: type[Exception], says: str, calls: int
) -> None:
    with pytest.raises(expected, match=says.replace("(", r"\(").replace(")", r"\)")) as caught:
        await run({"url": fake.url + path})
    assert classify(caught.value).maybe_executed is False
    assert len(fake.calls) == calls


@pytest.mark.parametrize(
    ("status", "expected", "category", "says"),
    [
        (404, errors.PermanentError, OutcomeCategory.PERMANENT, "HTTP 404: Not Found"),
        (410, errors.PermanentError, OutcomeCategory.PERMANENT, "HTTP 410: Gone"),
        (401, errors.AuthError, OutcomeCategory.AUTH, "reads public feeds only"),
        (403, errors.PermanentError, OutcomeCategory.PERMANENT, "refuses to serve it"),
        (502, errors.TransientError, OutcomeCategory.TRANSIENT, "HTTP 502"),
    ],
)
async def test_the_feed_hosts_errors_become_typed_errors(
    run: Run,
    fake: FakeFeeds,
    status: int,
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    says: str,
) -> None:
    with pytest.raises(errors.IntegrationError) as caught:
        await run({"url": f"{fake.url}/status/{status}"})
    outcome = classify(caught.value)
    assert (type(caught.value), outcome.category) == (expected, category)
    assert outcome.maybe_executed is False
    assert says in caught.value.message
    assert f"/status/{status}" not in caught.value.message  # the host, never the whole URL


async def test_a_429_waits_for_the_hosts_retry_after(run: Run, fake: FakeFeeds) -> None:
    fake.fail_next(429, retry_after_s=42)
    with pytest.raises(errors.RateLimitedError) as caught:
        await run({"url": fake.feed_url("news.rss")})
    assert caught.value.retry_after_s == 42


@pytest.mark.parametrize("scheme_host", ["https://localhost", "http://127.0.0.1"])
async def test_without_an_egress_exception_loopback_is_refused(
    run: Run, fake: FakeFeeds, scheme_host: str
) -> None:
    clients = HttpClients()  # the production policy: no exception for 127.0.0.1
    action = RssReadFeedIntegration(clients)
    url = f"{scheme_host}:{fake.port}/feeds/news.rss"
    try:
        with pytest.raises(EgressRefusedError) as caught:
            await run({"url": url}, integration=action)
    finally:
        await clients.aclose()
    assert classify(caught.value).maybe_executed is False
    assert fake.calls == []


def test_metadata_is_a_keyless_read_limited_per_feed() -> None:
    meta = RssReadFeedIntegration().metadata
    assert (meta.credentials_strategy.value, meta.credentials_provider) == ("none", None)
    assert (meta.side_effect.value, meta.category.value, meta.library_name) == (
        "none",
        "news",
        "feedparser",
    )
    assert [(r.scope.value, r.limit, r.period_s, r.target_field) for r in meta.rate_limits] == [
        ("target", 60, 60.0, "url")
    ]


async def test_feeds_are_parsed_one_at_a_time_even_when_a_timed_out_parse_still_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pure-Python parsing in threads takes the GIL from the event loop: one at a time per worker.
    from integrations.rss import read_feed

    running, most = 0, 0
    lock = threading.Lock()

    def slow_parse(body: bytes, headers: Any, *, where: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return "parsed"

    monkeypatch.setattr(read_feed, "parse_feed", slow_parse)
    abandoned = asyncio.create_task(read_feed.parsed(b"", {}, where="x"))
    await asyncio.sleep(0.02)
    abandoned.cancel()  # its action timed out: the thread runs on, and keeps the slot
    results = await asyncio.gather(*(read_feed.parsed(b"", {}, where="x") for _ in range(3)))
    assert results == ["parsed"] * 3
    assert most == 1
