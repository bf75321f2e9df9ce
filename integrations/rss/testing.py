"""A fake feed host: RSS 2.0 and Atom feeds, and the answers a hostile or broken host gives.

    async with FakeFeeds() as fake:                        # 127.0.0.1:<free port>
        clients = HttpClients(egress=EgressPolicy.from_settings(LOOPBACK))
        fake.feed_url("news.rss")                          # http://127.0.0.1:<port>/feeds/news.rss
        fake.fail_next(429, retry_after_s=3)               # the next call gets an HTML 429
        fake.calls[-1].path

Feeds (``/feeds/<name>``): ``news.rss`` (RSS 2.0, items out of date order, HTML, a
``javascript:`` link), ``dzen.rss`` (RSS 2.0 in Russian with ``content:encoded``, as Dzen's),
``cp1251.rss`` (the same in windows-1251), ``atom.xml`` (Atom 1.0), ``empty.rss`` (a channel
without items); hostile ones: ``huge.rss`` (3 MiB, streamed), ``slow.rss`` (a chunk every 0.2 s,
never ending), ``lol.rss`` (nested "billion laughs" entities), ``quadratic.rss`` (one long
entity referenced 20,000 times), ``xxe.rss`` (external entities: a local file and a URL on this
fake), ``dtd.rss`` (an external DTD on this fake). Others: ``/page.html`` (not a feed),
``/garbage.bin``, ``/moved`` (301 to ``news.rss``), ``/loop`` (redirects to itself),
``/to-metadata`` (302 to the cloud metadata address), ``/to-ftp``, and ``/status/<code>``.
Anything else is an HTML 404, and ``fail_next(status)`` answers an HTML page with that status,
as web servers do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.settings import IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeFeeds", "RecordedCall"]

RSS_TYPE = "application/rss+xml; charset=utf-8"
NEWS_RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
  <title>Example News</title>
  <link>https://news.example/</link>
  <description>Stories &amp; more</description>
  <item>
    <title>Second story</title>
    <link>https://news.example/2</link>
    <guid>https://news.example/2</guid>
    <pubDate>Wed, 02 Dec 2026 09:00:00 GMT</pubDate>
    <description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;
      &lt;script&gt;alert(1)&lt;/script&gt;</description>
  </item>
  <item>
    <title>Newest &#8238;story</title>
    <link>/3</link>
    <guid isPermaLink="false">story-3</guid>
    <pubDate>Thu, 03 Dec 2026 08:30:00 +0300</pubDate>
    <description>Plain   text
      over lines</description>
  </item>
  <item>
    <title>Undated story</title>
    <link>javascript:alert(1)</link>
    <description>No date here</description>
  </item>
</channel>
</rss>
"""
DZEN_RSS = """<?xml version="1.0" encoding="{encoding}"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Новости — Дзен</title>
  <link>https://dzen.ru/news</link>
  <description>Главные новости часа</description>
  <item>
    <title>Курс рубля укрепился</title>
    <link>https://dzen.ru/news/story/kurs-rublya</link>
    <guid>https://dzen.ru/news/story/kurs-rublya</guid>
    <pubDate>Thu, 03 Dec 2026 12:00:00 +0300</pubDate>
    <description>Рубль вырос к доллару.</description>
    <content:encoded><![CDATA[<p>Рубль <b>вырос</b> к доллару и евро.</p>]]></content:encoded>
  </item>
  <item>
    <title>Погода в Москве</title>
    <link>https://dzen.ru/news/story/pogoda</link>
    <pubDate>Thu, 03 Dec 2026 10:00:00 +0300</pubDate>
    <description>Снег и мороз.</description>
  </item>
</channel>
</rss>
"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">Atom Example</title>
  <link href="https://atom.example/"/>
  <subtitle type="html">A &lt;i&gt;fine&lt;/i&gt; feed</subtitle>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-12-03T10:00:00Z</updated>
  <entry>
    <title>Atom entry</title>
    <link rel="alternate" href="https://atom.example/entry-1"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2026-12-03T10:00:00+01:00</updated>
    <summary type="html">&lt;p&gt;Short&lt;/p&gt;</summary>
    <content type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml"><p>Long <em>text</em></p></div>
    </content>
  </entry>
</feed>
"""
EMPTY_RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
LOL_RSS = """<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title></item></channel></rss>
"""
QUADRATIC_RSS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "x" * 1000 + '">\n]>\n'
    '<rss version="2.0"><channel><title>T</title><item><title>' + "&a;" * 20000
    + "</title></item></channel></rss>"
)  # fmt: skip
XXE_RSS = """<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY file SYSTEM "file:///etc/passwd">
<!ENTITY web SYSTEM "{base}/secret">
]>
<rss version="2.0"><channel><title>&file;</title>
<item><title>&web;</title></item></channel></rss>
"""
DTD_RSS = """<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "{base}/evil.dtd">
<rss version="2.0"><channel><title>With a DTD</title>
<item><title>&nbsp;entry</title></item></channel></rss>
"""
PAGE = "<!doctype html><html><head><title>Welcome</title></head><body><p>Hi</p></body></html>"
HUGE_BYTES = 3 * 1024 * 1024


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str


_Injection = BaseInjection[str]  # no faults of its own: statuses, stalls and drops are shared


class FakeFeeds(FakeServer[RecordedCall, _Injection]):
    """A fake feed host on ``host:port`` (0: a free port), started by ``async with``."""

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{path:.*}", self._handle)

    def feed_url(self, name: str) -> str:
        """The URL of feed ``name`` (e.g. ``"news.rss"``) on this fake."""
        return f"{self.url}/feeds/{name}"

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """An HTML error page with ``status``, as a web server answers."""
        return web.Response(
            status=status,
            text=f"<html><body><h1>{status}</h1><p>{message}</p></body></html>",
            content_type="text/html",
            headers=self.retry_after(retry_after_s),
        )

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        call = RecordedCall(method=request.method, path=request.path, headers=dict(request.headers))
        self.calls.append(call)
        response = await self._answer(request)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        static = self._static(path)
        if static is not None:
            body, content_type = static
            return web.Response(body=body, headers={"Content-Type": content_type})
        if path == "/feeds/huge.rss":
            return await self._stream(request, HUGE_BYTES, delay_s=0.0)
        if path == "/feeds/slow.rss":
            return await self._stream(request, None, delay_s=0.2)
        redirects = {"/moved": (301, "/feeds/news.rss"), "/loop": (302, "/loop"),
                     "/to-metadata": (302, "http://169.254.169.254/latest/meta-data/"),
                     "/to-ftp": (302, "ftp://files.example/feed.rss")}  # fmt: skip
        if path in redirects:
            status, location = redirects[path]
            return web.Response(status=status, headers={"Location": location}, text="moved")
        if path.startswith("/status/") and path[8:].isdigit():
            return self.error_response(int(path[8:]), "as asked")
        return self.error_response(404, "Not Found")

    def _static(self, path: str) -> tuple[bytes, str] | None:
        dzen = DZEN_RSS.format(encoding="UTF-8")
        feeds = {
            "/feeds/news.rss": (NEWS_RSS.encode(), RSS_TYPE),
            "/feeds/dzen.rss": (dzen.encode(), RSS_TYPE),
            "/feeds/cp1251.rss": (
                DZEN_RSS.format(encoding="windows-1251").encode("cp1251"),
                "application/rss+xml",
            ),
            "/feeds/atom.xml": (ATOM.encode(), "application/atom+xml"),
            "/feeds/empty.rss": (EMPTY_RSS.encode(), RSS_TYPE),
            "/feeds/lol.rss": (LOL_RSS.encode(), RSS_TYPE),
            "/feeds/quadratic.rss": (QUADRATIC_RSS.encode(), RSS_TYPE),
            "/feeds/xxe.rss": (XXE_RSS.format(base=self.url).encode(), RSS_TYPE),
            "/feeds/dtd.rss": (DTD_RSS.format(base=self.url).encode(), RSS_TYPE),
            "/page.html": (PAGE.encode(), "text/html; charset=utf-8"),
            "/garbage.bin": (bytes(range(256)) * 64, "application/octet-stream"),
        }
        return feeds.get(path)

    async def _stream(
        self, request: web.Request, size: int | None, *, delay_s: float
    ) -> web.StreamResponse:
        """A feed-looking body of ``size`` bytes (``None``: endless), a chunk at a time."""
        response = web.StreamResponse(headers={"Content-Type": RSS_TYPE})
        await response.prepare(request)
        item = b"<item><title>filler</title><description>" + b"x" * 4000 + b"</description></item>"
        sent = 0
        try:
            await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Big')
            while size is None or sent < size:
                await response.write(item)
                sent += len(item)
                if delay_s:
                    await self.wait_unless_closing(delay_s)
                    if self._closing.is_set():
                        break
        except (ConnectionResetError, asyncio.CancelledError):
            return response  # the client gave up, as it should
        await response.write(b"</channel></rss>")
        return response


# The feed's URL is the config's, not an endpoint setting: the contract's settings() writes the
# URL it is given (the fake's, or a closed port's) into the config.
_CONTRACT_CONFIG: dict[str, Any] = {"url": "http://127.0.0.1/feeds/news.rss", "limit": 2}


@dataclass(frozen=True)
class _FeedsContract(ContractSubject):
    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        _CONTRACT_CONFIG["url"] = f"{url}/feeds/news.rss"
        return super().settings(url, timeout_s=timeout_s)


CONTRACT = _FeedsContract(
    service="rss",
    fake=FakeFeeds,
    credentials={},
    configs={"rss_read_feed": _CONTRACT_CONFIG},
    credentials_optional=True,  # a public feed needs none
    # A feed host's 403 is a refusal (a bot filter), not about credentials: there are none.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "rss_read_feed": [
            ({}, "url"),
            ({"url": "feeds.example/rss"}, "url"),
            ({"url": "ftp://feeds.example/rss"}, "url"),
            ({"url": "file:///etc/passwd"}, "url"),
            ({"url": "https://user:pass@feeds.example/rss"}, "url"),
            ({"url": "https://feeds.example/a b"}, "url"),
            ({"url": "https://feeds.example/" + "x" * 2048}, "url"),
            ({"url": "https://feeds.example/rss", "limit": 0}, "limit"),
            ({"url": "https://feeds.example/rss", "limit": 26}, "limit"),
            ({"url": "https://feeds.example/rss", "include_content": "yes"}, "include_content"),
            ({"url": "https://feeds.example/rss", "headers": {"X": "1"}}, "headers"),
        ],
    },
)
