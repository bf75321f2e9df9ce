"""A fake NewsAPI.org (``/v2/top-headlines``): real HTTP on loopback, for tests and demos.

Point the integration at it with ``HttpClients({"newsapi": EndpointSettings(base_url=fake.url)})``::

    async with FakeNewsAPI(api_keys={"k"}) as fake:
        fake.articles.append(FakeArticle(...))   # or use the built-in handful
        fake.inject("rate_limited")
        ...
        fake.calls[0].params, fake.calls[0].key_via   # "header" / "query" / None

It answers as NewsAPI does (``external-apis.md`` §7.1, newsapi.org/docs/errors): the key in
``X-Api-Key`` (or ``apiKey=`` / ``Authorization``), ``{"status": "ok", "totalResults",
"articles"}``, errors as ``{"status": "error", "code", "message"}`` with real status codes (400,
401, 426 on the Developer plan past 100 results, 429, 500).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeArticle", "FakeNewsAPI", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "rate_limited",  # 429 rateLimited (the Developer plan's 100/24 h message)
    "api_key_exhausted",  # 429 apiKeyExhausted
    "api_key_disabled",  # 401 apiKeyDisabled
    "unexpected_error",  # 500 unexpectedError
    "proxy_error",  # 502 with an HTML body (not NewsAPI's envelope)
    "timeout",  # answer only after delay_s
    "disconnect",  # close the connection without answering
]

_MESSAGES = {
    "apiKeyMissing": "Your API key is missing. Append this to the URL with the apiKey param, or "
    "use the x-api-key HTTP header.",
    "apiKeyInvalid": "Your API key is invalid or incorrect. Check your key, or go to "
    "https://newsapi.org to create a free API key.",
    "apiKeyDisabled": "Your API key has been disabled.",
    "apiKeyExhausted": "Your API key has no more requests available.",
    "rateLimited": "You have made too many requests recently. Developer accounts are limited to "
    "100 requests over a 24 hour period (50 requests available every 12 hours). Please upgrade "
    "to a paid plan if you need more requests.",
    "parametersMissing": "Required parameters are missing, the scope of your search is too "
    "broad. Please set any of the following required parameters and try again: sources, q, "
    "language, country, category.",
    "mixed": "You can't mix the sources parameter with the country or category parameters.",
    "sourcesTooMany": "You have requested too many sources in a single request. Try splitting "
    "the request into 2 smaller requests.",
    "sourceDoesNotExist": "You have requested a source which does not exist.",
    "unexpectedError": "This shouldn't happen, and if it does then it's our fault, not yours. "
    "Try the request again shortly.",
}
_FAULTS: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "rateLimited"),
    "api_key_exhausted": (429, "apiKeyExhausted"),
    "api_key_disabled": (401, "apiKeyDisabled"),
    "unexpected_error": (500, "unexpectedError"),
}
CATEGORIES = frozenset(
    {"business", "entertainment", "general", "health", "science", "sports", "technology"}
)


@dataclass(frozen=True, slots=True)
class FakeArticle:
    """An article the fake serves; ``country``/``category`` are only used for filtering."""

    title: str
    source_id: str | None
    source_name: str
    country: str
    category: str
    description: str | None = None
    url: str = "https://example.com/news"
    author: str | None = None
    published_at: str = "2026-01-15T10:00:00Z"
    image_url: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "source": {"id": self.source_id, "name": self.source_name},
            "author": self.author,
            "title": self.title,
            "description": self.description,
            "url": self.url,
            "urlToImage": self.image_url,
            "publishedAt": self.published_at,
            "content": (self.description or "")[:200] + " [+1843 chars]",
        }


def default_articles() -> list[FakeArticle]:
    """A small, fixed set of articles across countries, categories and sources."""
    rows = [
        ("Markets rally as inflation cools", "cnn", "CNN", "us", "business", "Stocks rose."),
        ("New chip startup raises $50M", "techcrunch", "TechCrunch", "us", "technology", None),
        ("Storm warning for the east coast", None, "Weather.com", "us", "general", "Heavy rain."),
        ("Championship final goes to overtime", "espn", "ESPN", "us", "sports", "A classic."),
        ("Parliament debates energy bill", "bbc-news", "BBC News", "gb", "general", "Long day."),
        ("NHS trial of new vaccine", "bbc-news", "BBC News", "gb", "health", "Early results."),
        ("Центробанк сохранил ставку", "rbc", "RBC", "ru", "business", "Решение ЦБ."),
    ]
    return [
        FakeArticle(
            title,
            source_id,
            name,
            country,
            category,
            description,
            url=f"https://example.com/{country}/{index}",
            author=f"Reporter {index}",
            published_at=f"2026-01-{15 - index:02d}T10:00:00Z",
        )
        for index, (title, source_id, name, country, category, description) in enumerate(rows)
    ]


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received, with what it answered."""

    path: str
    params: dict[str, str]
    key: str | None
    key_via: Literal["header", "query", "authorization"] | None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next requests get; returned by :meth:`FakeNewsAPI.inject`."""

    retry_after: str | None
    delay_s: float


def _error(status: int, code: str, message: str | None = None, **headers: str) -> web.Response:
    body = {"status": "error", "code": code, "message": message or _MESSAGES[code]}
    return web.json_response(body, status=status, headers=headers or None)


class FakeNewsAPI(FakeServer[RecordedCall, Injection]):
    """A fake NewsAPI on ``host:port`` (port 0: a free one), started by ``async with``.

    ``api_keys``: the keys it accepts (empty: any). ``plan="developer"`` refuses pages past the
    first 100 results (426 maximumResultsReached) as the free plan does; ``"business"`` does not.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        plan: Literal["developer", "business"] = "developer",
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = set(api_keys)
        self.plan = plan
        self.articles: list[FakeArticle] = default_articles()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/top-headlines", self._handle)

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:<port>/v2``."""
        return f"{super().url}/v2"

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        code = {401: "apiKeyInvalid", 429: "rateLimited", 500: "unexpectedError"}.get(status)
        headers = self.retry_after(retry_after_s)
        return _error(status, code or f"http{status}", message, **headers)

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after: str | None = None,
        delay_s: float = 30.0,
    ) -> Injection:
        """Make the next ``times`` requests (None: all) fail with ``kind``; ``retry_after`` adds
        a ``Retry-After`` header (NewsAPI documents none); "timeout" answers after ``delay_s``."""
        return self.queue(
            Injection(kind=kind, remaining=times, retry_after=retry_after, delay_s=delay_s)
        )

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        key, via = self._key(request, params)
        call = RecordedCall(
            path=request.path, params=params, headers=dict(request.headers), key=key, key_via=via
        )
        self.calls.append(call)
        response = await self._respond(call, request)
        call.status = response.status
        return response

    @staticmethod
    def _key(
        request: web.Request, params: dict[str, str]
    ) -> tuple[str | None, Literal["header", "query", "authorization"] | None]:
        if header := request.headers.get("X-Api-Key"):
            return header, "header"
        if query := params.pop("apiKey", None):
            return query, "query"
        if auth := request.headers.get("Authorization"):
            return auth.removeprefix("Bearer ").strip(), "authorization"
        return None, None

    async def _respond(self, call: RecordedCall, request: web.Request) -> web.StreamResponse:
        if call.key is None:
            return _error(401, "apiKeyMissing")
        if self.api_keys and call.key not in self.api_keys:
            return _error(401, "apiKeyInvalid")
        if (injection := self.take_injection()) is not None:
            return await self._fault(injection, call, request)
        return self._top_headlines(call.params)

    async def _fault(
        self, injection: Injection, call: RecordedCall, request: web.Request
    ) -> web.StreamResponse:
        kind = injection.kind
        headers = {"Retry-After": injection.retry_after} if injection.retry_after else {}
        if kind in _FAULTS:
            status, code = _FAULTS[kind]
            return _error(status, code, **headers)
        if kind == "proxy_error":
            return web.Response(
                status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
            )
        if kind == "disconnect":
            return self.disconnect(request)
        response = self._top_headlines(call.params)  # "timeout"
        await self.wait_unless_closing(injection.delay_s)
        return response

    def _top_headlines(self, params: dict[str, str]) -> web.Response:
        country, category = params.get("country"), params.get("category")
        sources = [s for s in params.get("sources", "").split(",") if s]
        q = params.get("q")
        if not (country or category or sources or q):
            return _error(400, "parametersMissing")
        if sources and (country or category):
            return _error(400, "parameterInvalid", _MESSAGES["mixed"])
        if category and category not in CATEGORIES:
            message = f"The category param is invalid: {category}."
            return _error(400, "parameterInvalid", message)
        if len(sources) > 20:
            return _error(400, "sourcesTooMany")
        known = {a.source_id for a in self.articles if a.source_id}
        if any(s not in known for s in sources):
            return _error(400, "sourceDoesNotExist")
        try:
            page_size = min(int(params.get("pageSize", "20")), 100)
            page = int(params.get("page", "1"))
        except ValueError:
            return _error(400, "parameterInvalid", "The pageSize or page param is invalid.")
        if self.plan == "developer" and page * page_size > 100:
            message = (
                "You have requested too many results. Developer accounts are limited to a max of "
                f"100 results. You are trying to request results {(page - 1) * page_size} to "
                f"{page * page_size}. Please upgrade to a paid plan if you need more results."
            )
            return _error(426, "maximumResultsReached", message)
        found = [
            a
            for a in self.articles
            if (country is None or a.country == country)
            and (category is None or a.category == category)
            and (not sources or a.source_id in sources)
            and (q is None or q.lower() in f"{a.title} {a.description or ''}".lower())
        ]
        chunk = found[(page - 1) * page_size : page * page_size]
        body = {"status": "ok", "totalResults": len(found), "articles": [a.wire() for a in chunk]}
        return web.json_response(body)


CONTRACT_KEY = "7d3f9a1c5e8b4d2fa6c0e9b1d4f7a2c8"
CONTRACT = ContractSubject(
    service="newsapi",
    fake=lambda: FakeNewsAPI(api_keys={CONTRACT_KEY}),
    credentials={"api_key": CONTRACT_KEY},
    configs={"newsapi_top_headlines": {"country": "us"}},
    invalid_configs={
        "newsapi_top_headlines": [
            ({}, "$"),
            ({"page_size": 10}, "$"),
            ({"country": "GB"}, "country"),
            ({"country": "gbr"}, "country"),
            ({"category": "politics"}, "category"),
            ({"sources": ["bbc-news"], "country": "gb"}, "$"),
            ({"sources": ["bbc-news"], "category": "health"}, "$"),
            ({"sources": []}, "sources"),
            ({"sources": [f"s{n}" for n in range(21)]}, "sources"),
            ({"sources": ["BBC News"]}, "sources"),
            ({"q": ""}, "q"),
            ({"country": "us", "page_size": 101}, "page_size"),
            ({"country": "us", "page": 0}, "page"),
            ({"country": "us", "language": "en"}, "language"),
        ],
    },
)
