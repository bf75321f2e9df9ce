"""Two cache layers in front of the credentials source: in-process LRU, then encrypted Redis.

Redis layout (``{bot_id}`` is a Redis Cluster hash tag, so a bot's keys share a slot)::

    actionstream:cred:{<bot_id>}:<provider>:<strategy>  string, TTL: base64 of the sealed entry
    actionstream:cred-index:{<bot_id>}:<provider>       set of the strategies cached for provider,
                                                        so dropping "every strategy" needs no SCAN

An entry's plaintext is ``{"c": {...credentials...}}``, or ``{"c": null}`` for a negative entry
("this bot has no such credentials"), sealed by
:class:`~integrations.credentials.crypto.EntryCipher` and bound to its key name. Nothing is ever
written to Redis unencrypted.

Redis is an optimisation, not a dependency: when it fails, reads count as misses and writes are
skipped (with a warning), and Redis is left alone for ``redis_backoff_s`` so a dead Redis does not
add a timeout to every action. An exhausted client pool (redis-py's ``MaxConnectionsError``) is
only a miss for that call: Redis itself is fine, so it does not trigger the back-off.

At most ``redis_concurrency`` Redis operations are under way at once; the rest queue for a
turn. Each under way holds a pooled connection, so 10,000 bots meeting a cold cache together
(a start, a rebalance) open a few dozen connections, not 10,000 (about 25 KiB of worker memory
each, and Redis's default ``maxclients`` is 10,000 for every worker together).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import MaxConnectionsError, RedisError

from integrations.credentials.crypto import EntryCipher, UndecryptableEntry
from integrations.credentials.keys import CredentialsKey
from integrations.redis_types import RedisClient

log = logging.getLogger(__name__)

# An already-expired token is still cached this long, so a bot whose source hands out stale
# tokens does not send every action straight to the source.
_MIN_TTL_S = 1.0


@dataclass
class CredentialsStats:
    """Counters for metrics; plain ints so any exporter can read them (never label by secret)."""

    local_hits: int = 0
    redis_hits: int = 0
    negative_hits: int = 0  # hits (either layer) on a "no credentials" entry
    misses: int = 0  # neither layer had the key
    fetches: int = 0  # calls to the source
    fetch_errors: int = 0
    coalesced: int = 0  # callers that joined a load already in flight
    redis_errors: int = 0  # includes redis_pool_exhausted
    redis_pool_exhausted: int = 0
    rejected_entries: int = 0  # Redis entries that failed decryption / authentication
    invalidations: int = 0
    refreshes: int = 0  # times the resolver asked the refresher (expiring or rejected tokens)
    tokens_renewed: int = 0  # token endpoint answers with a new access token
    refresh_waits: int = 0  # waits for another worker's refresh
    reauth_required: int = 0  # refusals of a dead grant (one per request that met it)
    refresh_failures: int = 0  # token endpoint down, slow or answering what we cannot use


@dataclass(frozen=True, slots=True)
class Cached:
    """One cached answer: the credentials, or ``None`` meaning the bot has none (negative entry)."""

    credentials: dict[str, Any] | None


_IMMUTABLE = (str, int, float, bool, type(None))


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times cheaper than
    ``copy.deepcopy``; anything else inside is deep-copied the usual way."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    if type(value) in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


def expires_at(credentials: Mapping[str, Any]) -> float | None:
    """The ``expires_at`` of credentials as a Unix timestamp (number or ISO-8601 text), if any."""
    value = credentials.get("expires_at")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


class CredentialsCache:
    """The in-process LRU and the encrypted Redis cache, with their TTL rules.

    ``ttl_s`` bounds positive entries (and is capped further by the credentials' own
    ``expires_at``), ``negative_ttl_s`` bounds "no credentials" answers, ``local_ttl_s`` (0 turns
    the layer off) bounds how long this process trusts an answer without asking Redis again.
    """

    def __init__(
        self,
        redis: RedisClient,
        cipher: EntryCipher,
        *,
        ttl_s: float = 300.0,
        negative_ttl_s: float = 15.0,
        local_ttl_s: float = 5.0,
        local_max_entries: int = 10_000,
        redis_backoff_s: float = 1.0,
        redis_concurrency: int = 32,
        namespace: str = "actionstream",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._local_ttl_s = local_ttl_s
        self._local_max = local_max_entries
        self._redis_backoff_s = redis_backoff_s
        self._namespace = namespace
        self._clock = clock
        self._monotonic = monotonic
        self._local: OrderedDict[CredentialsKey, tuple[float, Cached]] = OrderedDict()
        self._redis_paused_until = 0.0
        self._redis_slots = asyncio.Semaphore(redis_concurrency)
        self._pool_warned_at = float("-inf")
        self.stats = CredentialsStats()

    @property
    def cipher(self) -> EntryCipher:
        """The cipher sealing the entries (its key also keys the deployment's other hashes)."""
        return self._cipher

    def redis_key(self, key: CredentialsKey) -> str:
        """The Redis key name of an entry (also the associated data its ciphertext is bound to)."""
        return f"{self._namespace}:cred:{{{key.bot_id}}}:{key.provider}:{key.strategy}"

    def _index_key(self, bot_id: str, provider: str) -> str:
        return f"{self._namespace}:cred-index:{{{bot_id}}}:{provider}"

    # -- in-process layer ---------------------------------------------------------------------

    def get_local(self, key: CredentialsKey) -> Cached | None:
        """The in-process answer for ``key`` if it is still fresh."""
        item = self._local.get(key)
        if item is None:
            return None
        deadline, cached = item
        if deadline <= self._monotonic():
            del self._local[key]
            return None
        self._local.move_to_end(key)
        self._count_hit(cached, local=True)
        return cached

    def put_local(self, key: CredentialsKey, cached: Cached) -> None:
        """Remember ``cached`` in this process only (e.g. an answer just read from Redis)."""
        ttl = self._ttl_for(cached, self._local_ttl_s)
        if ttl <= 0:
            return
        self._local[key] = (self._monotonic() + ttl, cached)
        self._local.move_to_end(key)
        while len(self._local) > self._local_max:
            self._local.popitem(last=False)

    def drop_local(self, bot_id: str, provider: str, strategy: str | None) -> None:
        """Forget in-process entries for one strategy, or for every strategy of the provider."""
        if strategy is not None:
            self._local.pop(CredentialsKey(bot_id, provider, strategy), None)
            return
        for key in [k for k in self._local if k.bot_id == bot_id and k.provider == provider]:
            del self._local[key]

    # -- Redis layer --------------------------------------------------------------------------

    async def get_shared(self, key: CredentialsKey) -> Cached | None:
        """Read and decrypt the Redis entry; missing, undecryptable or unreachable is a miss."""
        if self._redis_paused():
            return None
        name = self.redis_key(key)
        try:
            async with self._redis_slots:
                raw = await self._redis.get(name)
        except (RedisError, OSError) as exc:
            self._redis_failed("read", name, exc)
            return None
        if raw is None:
            return None
        try:
            sealed = base64.b64decode(raw, validate=True)
            credentials = json.loads(self._cipher.open(sealed, bound_to=name))["c"]
            if credentials is not None and not isinstance(credentials, dict):
                raise TypeError("entry is not an object")
        except (UndecryptableEntry, binascii.Error, ValueError, KeyError, TypeError):
            # Another worker's key, a rotated key, or a value copied from another bot's key:
            # ignore it; the caller refetches and overwrites it.
            self.stats.rejected_entries += 1
            log.warning(
                "ignoring credentials cache entry %s: it does not decrypt with this worker's key "
                "for this key name (key rotated, or entry moved/tampered); refetching",
                name,
            )
            return None
        cached = Cached(credentials)
        self._count_hit(cached, local=False)
        return cached

    async def put(self, key: CredentialsKey, cached: Cached) -> None:
        """Store ``cached`` in both layers (Redis encrypted, with the TTL its kind calls for)."""
        self.put_local(key, cached)
        if self._redis_paused():
            return
        name = self.redis_key(key)
        index = self._index_key(key.bot_id, key.provider)
        plaintext = json.dumps({"c": cached.credentials}, separators=(",", ":")).encode()
        value = base64.b64encode(self._cipher.seal(plaintext, bound_to=name))
        ttl_ms = int(self._ttl_for(cached, self._ttl_s) * 1000)
        index_ttl_ms = int(max(self._ttl_s, self._negative_ttl_s) * 1000)
        try:
            async with self._redis_slots, self._redis.pipeline(transaction=False) as pipe:
                pipe.set(name, value, px=ttl_ms)
                pipe.sadd(index, key.strategy)
                pipe.pexpire(index, index_ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._redis_failed("write", name, exc)

    async def drop_shared(self, bot_id: str, provider: str, strategy: str | None) -> None:
        """Delete Redis entries for one strategy, or for every strategy of the provider.

        Tried even while reads are backing off: a lost invalidation would keep rejected credentials
        alive for a whole TTL. A failure is logged, not raised; the TTL still bounds the damage.
        """
        index = self._index_key(bot_id, provider)
        target = index
        try:
            async with self._redis_slots:
                if strategy is not None:
                    target = self.redis_key(CredentialsKey(bot_id, provider, strategy))
                    await self._redis.delete(target)
                    return
                members = await self._redis.smembers(index)
                names = [
                    self.redis_key(
                        CredentialsKey(bot_id, provider, m.decode() if isinstance(m, bytes) else m)
                    )
                    for m in members
                ]
                await self._redis.delete(*names, index)
        except (RedisError, OSError) as exc:
            self._redis_failed("delete", target, exc)

    # -- helpers ------------------------------------------------------------------------------

    def _ttl_for(self, cached: Cached, base_s: float) -> float:
        if cached.credentials is None:
            return min(base_s, self._negative_ttl_s)
        expiry = expires_at(cached.credentials)
        if expiry is None:
            return base_s
        return min(base_s, max(expiry - self._clock(), _MIN_TTL_S))

    def _count_hit(self, cached: Cached, *, local: bool) -> None:
        if local:
            self.stats.local_hits += 1
        else:
            self.stats.redis_hits += 1
        if cached.credentials is None:
            self.stats.negative_hits += 1

    def _redis_paused(self) -> bool:
        return self._monotonic() < self._redis_paused_until

    def _redis_failed(self, action: str, name: str, exc: BaseException) -> None:
        self.stats.redis_errors += 1
        now = self._monotonic()
        if isinstance(exc, MaxConnectionsError):
            self.stats.redis_pool_exhausted += 1
            if now - self._pool_warned_at >= self._redis_backoff_s:  # one line per window
                self._pool_warned_at = now
                log.warning(
                    "credentials cache: the Redis client's connection pool is exhausted (%s "
                    "skipped for %s); give it max_connections >= the worker's in-flight limit "
                    "or a BlockingConnectionPool",
                    action,
                    name,
                )
            return
        self._redis_paused_until = now + self._redis_backoff_s
        log.warning(
            "credentials cache: Redis %s failed for %s (%s: %s); using the source directly for "
            "the next %.1fs",
            action,
            name,
            type(exc).__name__,
            exc,
            self._redis_backoff_s,
        )
