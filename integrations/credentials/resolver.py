"""The resolver integrations call: ``get_default_for(bot_id=, provider=, strategy=)``."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from integrations.credentials.cache import (
    Cached,
    CredentialsCache,
    CredentialsStats,
    copy_json,
    expires_at,
)
from integrations.credentials.crypto import EntryCipher
from integrations.credentials.keys import CredentialsKey, check_name, make_key, normalise_bot_id
from integrations.credentials.refresh import OAuthRefresher
from integrations.credentials.sources import CredentialsSource, build_source

if TYPE_CHECKING:
    import httpx

    from integrations.credentials.settings import CredentialsSettings
    from integrations.redis_types import RedisClient


class CredentialsRefresher(Protocol):
    """Renews OAuth access tokens (:class:`~integrations.credentials.refresh.OAuthRefresher`).

    The resolver calls it, at most once per (bot, provider, strategy) at a time within a worker,
    when ``oauth`` credentials it is about to hand out expire within ``refresh_margin_s``, have
    no ``access_token`` yet, or hold the one a provider just refused (``rejected``), and caches
    what it returns. An implementation persists the new tokens at the source of truth and must
    itself serialise refreshes of the same credentials across workers, because refresh tokens
    are often single-use.
    """

    async def refresh(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: Mapping[str, Any],
        *,
        rejected: str | None = None,
    ) -> dict[str, Any]:
        """Return renewed credentials; raise an ``IntegrationError`` subclass on failure."""
        ...


class CredentialsResolver:
    """Resolves a bot's credentials: in-process cache → encrypted Redis → the source of truth.

    Concurrent callers asking for the same key while it is being loaded share one load (one Redis
    read, at most one source fetch, at most one refresh); its error reaches all of them and is not
    cached. Every caller gets its own deep copy, so mutating the result cannot leak into the cache
    or into another action.
    """

    def __init__(
        self,
        source: CredentialsSource,
        cache: CredentialsCache,
        *,
        refresher: CredentialsRefresher | None = None,
        refresh_margin_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        max_loads: int = 1024,
    ) -> None:
        self._source = source
        self._cache = cache
        self._refresher = refresher
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._flights: dict[CredentialsKey, asyncio.Task[Cached]] = {}
        # At most max_loads loads at once: 10,000 bots meeting a cold cache together wait for a
        # turn (a future each) rather than each holding a task of its own (~1 KiB apiece).
        self._loading = asyncio.Semaphore(max_loads)
        # (bot, provider) -> the access token a provider refused, for the next load to renew.
        self._rejected: dict[tuple[str, str], str | None] = {}

    @classmethod
    def from_settings(
        cls,
        config: CredentialsSettings,
        redis: RedisClient,
        *,
        dev_mode: bool = False,
        refresher: CredentialsRefresher | None = None,
        oauth_client: httpx.AsyncClient | None = None,
        token_urls: Mapping[str, str] | None = None,
    ) -> CredentialsResolver:
        """Build from settings; raises ``CredentialsConfigError`` for a missing key or token.

        With ``oauth_client`` (and no ``refresher``), OAuth tokens are renewed by an
        :class:`~integrations.credentials.refresh.OAuthRefresher` posting with that client
        (``token_urls``: endpoints moved per provider). ``redis`` and ``oauth_client`` stay the
        caller's to close; :meth:`aclose` closes the source it builds.
        """
        # The key first: refuse to start before any connection is opened.
        cipher = EntryCipher.from_settings(config.encryption_key, dev_mode=dev_mode)
        cache = CredentialsCache(
            redis,
            cipher,
            ttl_s=config.cache_ttl_s,
            negative_ttl_s=config.negative_ttl_s,
            local_ttl_s=config.local_ttl_s,
            local_max_entries=config.local_max_entries,
            redis_backoff_s=config.redis_backoff_s,
        )
        source = build_source(config)
        if refresher is None and oauth_client is not None:
            refresher = OAuthRefresher(
                source, redis, cipher, oauth_client, stats=cache.stats, token_urls=token_urls,
                margin_s=config.refresh_margin_s,
            )  # fmt: skip
        return cls(source, cache, refresher=refresher, refresh_margin_s=config.refresh_margin_s)

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` derived from the credentials encryption key (the same on every
        worker that shares the cache): what keys the rate limiter's fingerprints."""
        return self._cache.cipher.derive(purpose)

    @property
    def stats(self) -> CredentialsStats:
        """Hit, miss and fetch counters (shared with the cache)."""
        return self._cache.stats

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        """The bot's credentials for ``provider``/``strategy`` (a fresh copy), or ``None``.

        Raises ``ValueError`` for a malformed bot id, provider or strategy, and
        ``CredentialsSourceError`` when the source of truth cannot answer.
        """
        key = make_key(bot_id, provider, strategy)
        cached = self._cache.get_local(key)
        if cached is None:
            cached = await self._load(key)
        return None if cached.credentials is None else copy_json(cached.credentials)

    def peek_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> Cached | None:
        """What :meth:`get_default_for` would answer from this process's cache, without I/O;
        ``None`` when it would have to load. Not a copy: read it, never change it."""
        return self._cache.get_local(make_key(bot_id, provider, strategy))

    async def invalidate(
        self,
        bot_id: UUID | str,
        provider: str,
        strategy: str | None = None,
        *,
        rejected: bool = False,
    ) -> None:
        """Forget cached credentials (all strategies of ``provider`` when ``strategy`` is None).

        Call it when the platform reports a change, or with ``rejected`` when a provider refused
        the credentials: the next ``get_default_for`` goes to the source and, for OAuth, renews
        the refused access token instead of handing it out again. Loads already in flight still
        answer their callers but no longer write to the cache.
        """
        bot = normalise_bot_id(bot_id)
        check_name("provider", provider)
        if strategy is not None:
            check_name("strategy", strategy)
        self.stats.invalidations += 1
        if rejected and self._refresher is not None:
            cached = await self._cache.get_shared(make_key(bot, provider, strategy or "oauth"))
            token = (cached.credentials or {}).get("access_token") if cached else None
            self._rejected[(bot, provider)] = token if isinstance(token, str) else None
        self._forget(bot, provider, strategy)
        await self._cache.drop_shared(bot, provider, strategy)
        # A load that began while Redis was being cleared may have read the old entry.
        self._forget(bot, provider, strategy)

    async def aclose(self) -> None:
        """Cancel loads in flight and close the source."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        await self._source.aclose()

    # -- single flight ------------------------------------------------------------------------

    async def _load(self, key: CredentialsKey) -> Cached:
        flight = self._flights.get(key)
        if flight is None:
            # A turn, which the load keeps until it lands; a caller cancelled here just leaves.
            await self._loading.acquire()
            flight = self._flights.get(key)  # another caller may have started it meanwhile
            if flight is None:
                flight = asyncio.create_task(self._fill(key), name=f"credentials-load:{key.bot_id}")
                self._flights[key] = flight
                flight.add_done_callback(functools.partial(self._landed, key))
            else:
                self._loading.release()
                self.stats.coalesced += 1
        else:
            self.stats.coalesced += 1
        # shield: one caller giving up (deadline, cancellation) must not cancel the others' load.
        return await asyncio.shield(flight)

    def _landed(self, key: CredentialsKey, flight: asyncio.Task[Cached]) -> None:
        # Here, not in the load's own finally: a load cancelled before it ran (aclose) has none.
        self._loading.release()
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here so an error nobody awaited is not logged as lost

    def _is_current(self, key: CredentialsKey) -> bool:
        """False once ``invalidate`` has disowned the running load: its answer may be stale."""
        return self._flights.get(key) is asyncio.current_task()

    async def _fill(self, key: CredentialsKey) -> Cached:
        cached = await self._cache.get_shared(key)
        fetched = cached is None
        if cached is None:
            self.stats.misses += 1
            cached = Cached(await self._fetch(key))
        refresher, credentials = self._refresher, cached.credentials
        if refresher is not None and credentials is not None and self._due(key, credentials):
            # Renewed first, cached after: a failed renewal leaves nothing to hand out.
            rejected = self._rejected.pop((key.bot_id, key.provider), None)
            self.stats.refreshes += 1
            renewed = await refresher.refresh(*key, credentials=credentials, rejected=rejected)
            cached = Cached(renewed or None)
            fetched = True
        if self._is_current(key):
            if fetched:
                await self._cache.put(key, cached)
            else:
                self._cache.put_local(key, cached)
        return cached

    def _due(self, key: CredentialsKey, credentials: Mapping[str, Any]) -> bool:
        """OAuth credentials about to expire, without a token yet, or holding a refused one."""
        if key.strategy != "oauth":
            return False
        return (
            (key.bot_id, key.provider) in self._rejected
            or self._expiring(credentials)
            or "access_token" not in credentials
        )

    async def _fetch(self, key: CredentialsKey) -> dict[str, Any] | None:
        self.stats.fetches += 1
        try:
            return await self._source.fetch(*key)
        except Exception:
            self.stats.fetch_errors += 1
            raise

    def _expiring(self, credentials: Mapping[str, Any]) -> bool:
        expiry = expires_at(credentials)
        return expiry is not None and expiry - self._clock() < self._refresh_margin_s

    def _forget(self, bot_id: str, provider: str, strategy: str | None) -> None:
        self._cache.drop_local(bot_id, provider, strategy)
        for key in [
            k
            for k in self._flights
            if k.bot_id == bot_id
            and k.provider == provider
            and (strategy is None or k.strategy == strategy)
        ]:
            del self._flights[key]
