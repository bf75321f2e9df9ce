"""Fixtures for the credentials tests: caches and resolvers on the real Redis, a fake platform API
on a loopback socket, and sources that count, wait or fail on demand.

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from integrations.credentials import (
    CredentialsCache,
    CredentialsResolver,
    CredentialsSource,
    EntryCipher,
)

API_TOKEN = "service-token-for-tests"


class ScriptedSource:
    """A source that counts fetches, can be slow, and can fail; answers come from ``data``."""

    def __init__(
        self,
        data: Mapping[tuple[str, str, str], dict[str, Any]] | None = None,
        *,
        delay_s: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.data: dict[tuple[str, str, str], dict[str, Any]] = dict(data or {})
        self.delay_s = delay_s
        self.error = error
        self.fetches = 0
        self.closed = False

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        self.fetches += 1
        found = self.data.get((bot_id, provider, strategy))  # read first: a slow answer is old
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return None if found is None else dict(found)

    async def aclose(self) -> None:
        self.closed = True


class FakePlatformApi:
    """The platform's credentials API on 127.0.0.1, per HttpCredentialsSource's contract."""

    def __init__(self) -> None:
        self.token = API_TOKEN
        self.data: dict[tuple[str, str, str], Any] = {}
        self.requests: list[web.Request] = []
        self.status: int | None = None  # force this status for every request
        self.body: str | None = None  # ...with this raw body
        self.delay_s = 0.0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status is not None:
            return web.Response(status=self.status, text=self.body or "")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        key = (
            request.match_info["bot_id"],
            request.match_info["provider"],
            request.query.get("strategy", ""),
        )
        if request.method == "PUT":
            return await self._store(request, key)
        if key not in self.data:
            return web.json_response({"error": "not_found"}, status=404)
        return web.json_response(self.data[key])

    async def _store(self, request: web.Request, key: tuple[str, str, str]) -> web.Response:
        """The write contract: a compare-and-set on ``version`` by If-Match / If-None-Match."""
        current = self.data.get(key)
        version = current.get("version") if isinstance(current, dict) else None
        if_match = request.headers.get("If-Match")
        if if_match is not None and (version is None or if_match != f'"{version}"'):
            return web.json_response({"error": "version_conflict"}, status=412)
        if request.headers.get("If-None-Match") == "*" and version is not None:
            return web.json_response({"error": "version_conflict"}, status=412)
        self.data[key] = await request.json()
        return web.Response(status=204)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen on a free port; over TLS with ``ssl_context``."""
        app = web.Application()
        path = "/internal/credentials/bots/{bot_id}/credentials/{provider}"
        app.router.add_get(path, self._handle)
        app.router.add_put(path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        scheme = "https" if ssl_context else "http"
        self.base_url = f"{scheme}://{host}:{port}/internal/credentials"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def platform_api() -> AsyncIterator[FakePlatformApi]:
    api = FakePlatformApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
def api_token() -> str:
    """The service token ``platform_api`` accepts."""
    return API_TOKEN


@pytest.fixture
def scripted() -> type[ScriptedSource]:
    """``scripted(data, delay_s=, error=)``: a source that counts, waits and fails on demand."""
    return ScriptedSource


@pytest.fixture
def cipher() -> EntryCipher:
    return EntryCipher(os.urandom(32))


CacheFactory = Callable[..., CredentialsCache]


@pytest.fixture
async def redis_client(redis_client: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """The shared fixture (tests' database, flushed before the test), flushed after it too."""
    yield redis_client
    await redis_client.flushdb()


@pytest.fixture
def make_cache(redis_client: aioredis.Redis, cipher: EntryCipher) -> CacheFactory:
    """``make_cache(redis=None, **options)``: a cache on the tests' Redis, sealed by ``cipher``."""

    def make(redis: aioredis.Redis | None = None, **options: Any) -> CredentialsCache:
        return CredentialsCache(redis if redis is not None else redis_client, cipher, **options)

    return make


ResolverFactory = Callable[..., CredentialsResolver]


@pytest.fixture
async def make_resolver(make_cache: CacheFactory) -> AsyncIterator[ResolverFactory]:
    """``make_resolver(source, cache=None, **cache_options)``; every resolver is closed after."""
    made: list[CredentialsResolver] = []

    def make(
        source: CredentialsSource,
        cache: CredentialsCache | None = None,
        *,
        resolver_options: Mapping[str, Any] | None = None,
        **cache_options: Any,
    ) -> CredentialsResolver:
        resolver = CredentialsResolver(
            source, cache or make_cache(**cache_options), **(resolver_options or {})
        )
        made.append(resolver)
        return resolver

    yield make
    for resolver in made:
        await resolver.aclose()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
