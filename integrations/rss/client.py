"""Fetching a feed from a tenant's URL through the HTTP seam: egress-checked, bounded, keyless.

**Why a feed reader.** Yandex News has no public read API (it became Dzen News, which offers
RSS only to publishers submitting articles), so the seed's news row is served by a reader of
any RSS or Atom feed, Dzen's included. There are no credentials: the metadata says
``credentials_strategy="none"`` with no credentials provider, so nothing is looked up.

**The URL is the tenant's**, so every request goes through the seam's egress-checked client
(``tenant_urls``, :mod:`integrations.egress`): loopback, private, link-local and the deployment's
own hosts are refused at connect time, and plain ``http`` only reaches hosts listed in
``ACTIONSTREAM_INTEGRATIONS__EGRESS__ALLOW`` (a feed URL carries no secret, but a plain-http
answer can be changed on the way, so an operator opts in per host). Redirects are followed here,
not by httpx (which would read a redirect's body without a bound): at most
:data:`MAX_REDIRECTS` hops, each one a new request through the seam, so each is checked by the
egress policy again and its body is bounded too. The whole fetch has one deadline
(``fetch_deadline_s``), so a body trickling in slower than the read timeout still ends; the
body is refused past ``max_response_bytes`` (1 MiB) while it streams.

**Errors** of the feed's host (HTML pages, mostly) are mapped by :mod:`integrations.provider`
by status, except:

=====================  ======================  ==================================================
answer                 our error (code)        why
=====================  ======================  ==================================================
301/302/303/307/308    (followed)              up to 3 hops; a 4th, or a Location that is not an
                                               http(s) URL: PermanentError
401                    AuthError (401)         the feed needs a login, which this reader does
                                               not do (AUTH, as every service's 401 is)
403                    PermanentError (403)    the host refuses us (often a bot filter); no
                                               credentials of ours would change that
404, 410, other 4xx    PermanentError          the feed is not there
429                    RateLimitedError        ``Retry-After`` when the host sends one
5xx, timeouts          TransientError          a read: safe to ask again
=====================  ======================  ==================================================
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from integrations.base import Category, CredentialsStrategy
from integrations.bot_logger import BotLogger, SecretSet
from integrations.errors import AuthError, IntegrationError, PermanentError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, transport_error
from integrations.service import Service

__all__ = [
    "FEEDS",
    "MAX_FEED_BYTES",
    "MAX_REDIRECTS",
    "MAX_URL_CHARS",
    "FeedIntegration",
    "Feeds",
    "Fetched",
    "where",
]

FEEDS = Service(
    "rss", Category.NEWS, "#EE802F", library="feedparser", strategy=CredentialsStrategy.NONE
)

# A large real feed is a few hundred KB. feedparser is pure Python and costs up to ~5 s of CPU
# per MiB on hostile input (measured: deep nesting, tags its strict parser refuses), so 1 MiB.
MAX_FEED_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
MAX_URL_CHARS = 2048
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


class Feeds(Provider):
    """A feed host's answers: statuses with HTML bodies; a redirect is followed, not an error."""

    name = "RSS"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not (response.is_success or response.is_redirect)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        return ErrorDetail()  # an HTML error page says nothing the status does not

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        if status == 401:
            return AuthError(
                call.message(
                    "the feed needs a login; rss_read_feed reads public feeds only",
                    label="HTTP 401",
                ),
                code=401,
            )
        if status == 403:
            return PermanentError(
                call.message("the feed's host refuses to serve it to us", label="HTTP 403"),
                code=403,
            )
        return None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's bytes and what parsing them needs: the final URL and its content type."""

    url: str
    body: bytes
    content_type: str | None

    @property
    def headers(self) -> dict[str, str]:
        """As feedparser takes them: the content type, and the URL relative links resolve to."""
        headers = {"content-location": self.url}
        if self.content_type:
            headers["content-type"] = self.content_type
        return headers


def where(url: str) -> str:
    """How messages name a feed: its host (never the whole URL, whose query is the tenant's)."""
    return f"GET {urlsplit(url).hostname or 'feed'}"


class FeedIntegration(HttpIntegration):
    """Base of the feed actions: one egress-checked, bounded GET of a tenant's feed URL."""

    service: ClassVar[str] = "rss"
    default_base_url: ClassVar[str] = ""  # every call uses the feed's absolute URL
    tenant_urls = True
    provider = Feeds()
    http_timeout_s: ClassVar[float] = 10.0
    max_response_bytes: ClassVar[int] = MAX_FEED_BYTES
    #: The whole fetch, redirects included, however slowly the body trickles in.
    fetch_deadline_s: ClassVar[float] = 15.0

    async def fetch(self, url: str, *, logger: BotLogger) -> Fetched:
        """GET ``url``, following up to :data:`MAX_REDIRECTS` redirects; or a typed error."""
        try:
            async with asyncio.timeout(self.fetch_deadline_s):
                return await self._follow(url, logger)
        except TimeoutError as exc:
            call = Call(self.provider.name, where(url), False, SecretSet())
            error = transport_error(call, exc)
            logger.warning("RSS request failed: %s", error.message, category=error.category.value)
            raise error from None

    async def _follow(self, url: str, logger: BotLogger) -> Fetched:
        for _ in range(MAX_REDIRECTS + 1):
            reply = await self.call(
                "GET", url, headers={"Accept": ACCEPT}, what=where(url), logger=logger
            )
            response = reply.response
            if not response.is_redirect:
                return Fetched(url, response.content, response.headers.get("content-type"))
            url = _redirected(url, response.headers["location"])
        raise PermanentError(
            f"RSS {where(url)}: more than {MAX_REDIRECTS} redirects; use the feed's final URL"
        )


def _redirected(url: str, location: str) -> str:
    """The absolute URL a redirect points to, if it is one a feed may be read from."""
    try:
        target = str(httpx.URL(url).join(location.strip()))
    except (httpx.InvalidURL, ValueError):
        target = ""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(target) > MAX_URL_CHARS:
        raise PermanentError(
            f"RSS {where(url)}: the feed redirects to {location[:200]!r}, not an http(s) URL"
        )
    if parts.username is not None or parts.password is not None:
        raise PermanentError(
            f"RSS {where(url)}: the feed redirects to a URL with user info; refused"
        )
    return target
