"""A distributed rate limiter in Redis, shared by every worker, driven by ``metadata.rate_limits``.

Usage in the processor, after the bot's credentials are resolved::

    limiter = RateLimiter(redis, namespace="actionstream")
    keys = limiter.keys_for(metadata, credentials=creds, config=config)
    decision = await limiter.acquire(keys)       # all keys take a slot, or none does
    if not decision.allowed:
        ...park this bot for decision.wait_s...
    ...
    await limiter.penalize(keys, retry_after_s)  # after a provider's 429

**Algorithm: GCRA** (generic cell rate algorithm). Each key holds one number, the "theoretical
arrival time" (TAT): when the key would be idle again if every slot taken so far were spread at
the steady rate. A slot is free at ``now`` when ``TAT - now <= tau``; taking it adds one emission
interval ``T = period / limit`` to the TAT. With ``tau = (limit - 1) * T`` a key allows a burst of
``limit`` and then ``limit`` per ``period``, evenly spaced. Chosen over a sliding window because it
keeps O(1) memory per key (a sliding log keeps a timestamp per slot: 30 per Telegram token), it
smooths traffic instead of letting a whole window's quota fire at a window edge, and a refusal
knows its exact wait (``TAT - tau - now``), which is what a parked bot needs.

Time is Redis's (``TIME`` inside the script), so worker clocks never matter. All arithmetic is in
whole microseconds, exact in Lua's doubles; ``T`` is rounded *up*, so the limiter never grants
more than the provider's published rate. A key expires on its own shortly after its TAT: an
absent key and a TAT in the past mean the same thing ("full burst available").

**Key layout** (``{...}`` is the Redis Cluster hash tag: every key of one credential shares a
slot, so the multi-key script keeps working on a cluster)::

    <ns>:rl:{<provider>:<credential fp>}:c:<limit>/<period_s>
    <ns>:rl:{<provider>:<credential fp>}:t:<target_field>:<target fp>:<limit>/<period_s>

The credential fingerprint is a truncated SHA-256 (HMAC-SHA256 with ``fingerprint_key``) of the
credentials' canonical JSON: keys, logs and errors never carry the token. Different tokens give
different keys even when two bots share a token (they then share the provider's quota, as they
do at the provider). Targets (chat ids, e-mail addresses) are fingerprinted too, which keeps
config-supplied text out of key names and bounds their length. Limit and period are in the key,
so two limits of the same scope (1/s and 20/min per chat) never share a TAT.

**Integrations without credentials** (strategy ``none``, or no credentials resolved) share one
identity per provider, ``{<provider>:public}``, whatever the bot: a keyless API sees all our
bots as one client (our egress address, our app), so its quota is the deployment's, not a bot's.

**Failure is closed**: if Redis does not answer, :class:`RedisUnavailableError` (a
retryable :class:`~integrations.errors.TransientError`) is raised and the processor pauses. There
is deliberately no fail-open switch: without the limiter a whole fleet would replay its backlog
at a provider at once, and Telegram answers floods with long bans of the bot token, a worse
outage than a pause. Note that redis-py retries timed-out commands on its own; a retried
``acquire`` whose first attempt did run consumes one extra slot, the safe direction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from integrations.base import CredentialsStrategy, IntegrationMetadata, RateLimitScope
from integrations.credentials.keys import check_name
from integrations.redis_types import RedisClient
from processors.redis_scripts import RedisUnavailableError, ScriptRunner

__all__ = ["Decision", "LimitKey", "RateLimiter"]

_FP_HEX = 16  # 64 bits: collisions are negligible at any realistic number of credentials
_FP_DOMAIN = b"actionstream:ratelimit:v1\x00"  # these digests match no other use of the data
_PUBLIC = "public"  # the credential part of the identity for keyless integrations
_FIELD = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_EXPIRY_MARGIN_MS = 1000  # keep a key a little past its TAT (clock steps, failover)

# KEYS: the limit keys. ARGV: per key, T (µs) then tau (µs).
# Returns {1, 0} when every key took a slot, else {0, longest wait in µs} and nothing changed.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new, wait = {}, 0
for i = 1, #KEYS do
  local interval, tau = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  if tat - now > tau then
    wait = math.max(wait, tat - tau - now)
  end
  new[i] = tat + interval
end
if wait > 0 then return {0, wait} end
for i = 1, #KEYS do
  local ttl = math.ceil((new[i] - now) / 1000) + tonumber(ARGV[2 * #KEYS + 1])
  redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', ttl)
end
return {1, 0}
"""

# KEYS: the limit keys. ARGV[1]: the penalty (µs), ARGV[1 + i]: tau of key i (µs), last: margin.
# The first slot then frees at now + penalty, and later ones at the steady rate (no burst).
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local penalty = tonumber(ARGV[1])
for i = 1, #KEYS do
  local floor = now + penalty + tonumber(ARGV[1 + i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or 0)
  if tat < floor then
    local ttl = math.ceil((floor - now) / 1000) + tonumber(ARGV[#KEYS + 2])
    redis.call('SET', KEYS[i], string.format('%.0f', floor), 'PX', ttl)
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class LimitKey:
    """A limit at ``redis_key``: ``limit`` per ``period_s``, with a burst of ``limit``."""

    redis_key: str
    limit: int
    period_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ValueError(f"LimitKey needs limit >= 1 and a finite period_s > 0, got {self!r}")
        if _tag(self.redis_key) is None:
            raise ValueError(f"redis_key {self.redis_key!r} has no '{{...}}' hash tag")

    def gcra(self) -> tuple[int, int]:
        """``(T, tau)`` in µs: the emission interval (rounded up) and the burst tolerance."""
        interval = max(1, math.ceil(self.period_s * 1_000_000 / self.limit))
        return interval, (self.limit - 1) * interval


_REMEMBERED = 4096  # credentials fingerprints kept


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed``: every key took a slot. Otherwise nothing was taken; retry after ``wait_s``."""

    allowed: bool
    wait_s: float


def _tag(redis_key: str) -> str | None:
    """The hash tag as Redis Cluster reads it (first ``{``, then the first ``}`` after it)."""
    start = redis_key.find("{")
    end = redis_key.find("}", start + 1)
    return redis_key[start + 1 : end] if start >= 0 and end > start + 1 else None


def _canonical(value: Any) -> bytes:
    # Sorted keys and fixed separators: the same credentials always give the same bytes.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _target_text(target: Any) -> str:
    # 42 and "42" are one Telegram chat; anything else (bools included) by its canonical JSON.
    if isinstance(target, str) or (isinstance(target, int) and not isinstance(target, bool)):
        return str(target)
    return _canonical(target).decode()


class RateLimiter:
    """GCRA limits in Redis; see the module docstring for the algorithm and the key layout.

    ``redis`` is injected (the worker's shared client; its timeouts bound a failing call).
    ``fingerprint_key``, if set, makes fingerprints HMACs: then someone who can read Redis
    cannot test guesses of a low-entropy credential (a basic-auth password) against key names.
    Every worker must use the same key, or they stop sharing limits.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        namespace: str = "actionstream",
        fingerprint_key: bytes | None = None,
        scripts: ScriptRunner | None = None,
    ) -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace {namespace!r} must be non-empty and free of '{{' '}}'")
        self._redis = redis
        self._prefix = f"{namespace}:rl:"
        self._fingerprint_key = fingerprint_key
        # EVALSHA (one round trip, batched with concurrent calls), loaded once on NOSCRIPT.
        self._scripts = scripts or ScriptRunner(redis)
        self._acquire = self._scripts.register(_ACQUIRE)
        self._penalize = self._scripts.register(_PENALIZE)
        self._fingerprints: dict[int, tuple[object, str]] = {}  # the last credentials seen

    def fingerprint(self, value: Any) -> str:
        """A short, stable, one-way fingerprint of ``value`` (credentials or a target)."""
        data = _FP_DOMAIN + _canonical(value)
        if self._fingerprint_key is not None:
            return hmac.new(self._fingerprint_key, data, hashlib.sha256).hexdigest()[:_FP_HEX]
        return hashlib.sha256(data).hexdigest()[:_FP_HEX]

    def keys_for(
        self,
        metadata: IntegrationMetadata,
        *,
        credentials: Mapping[str, Any] | None,
        config: Mapping[str, Any],
    ) -> tuple[LimitKey, ...]:
        """One :class:`LimitKey` per ``metadata.rate_limits`` entry that applies to ``config``.

        A target limit whose ``target_field`` is missing (or ``None``) in ``config`` is skipped:
        there is no target to count against. Raises ``ValueError`` for a provider or target field
        name that could break the key layout (a bug in the integration's metadata).
        ``credentials`` is fingerprinted once per object: pass one that no longer changes.
        """
        if not metadata.rate_limits:
            return ()
        provider = check_name("provider", metadata.credentials_provider or metadata.service)
        keyless = metadata.credentials_strategy is CredentialsStrategy.NONE or not credentials
        identity = f"{provider}:{_PUBLIC if keyless else self._credential_fingerprint(credentials)}"
        base = f"{self._prefix}{{{identity}}}:"
        keys: dict[str, LimitKey] = {}  # identical limits declared twice count once
        for rule in metadata.rate_limits:
            spec = f"{rule.limit}/{float(rule.period_s)!r}"
            if rule.scope is RateLimitScope.CREDENTIAL:
                name = f"{base}c:{spec}"
            else:
                field = rule.target_field or ""
                target = config.get(field)
                if target is None:
                    continue
                if not _FIELD.fullmatch(field):
                    raise ValueError(
                        f"rate limit target_field {field!r} must match {_FIELD.pattern}"
                    )
                name = f"{base}t:{field}:{self.fingerprint(_target_text(target))}:{spec}"
            keys[name] = LimitKey(name, rule.limit, float(rule.period_s))
        return tuple(keys.values())

    def _credential_fingerprint(self, credentials: Mapping[str, Any] | None) -> str:
        # Remembered by identity, holding the object: its id cannot be reused meanwhile, and the
        # credentials cache hands the processor the same unchanging object for a bot's requests.
        remembered = self._fingerprints.get(id(credentials))
        if remembered is not None:
            return remembered[1]
        fingerprint = self.fingerprint(dict(credentials or {}))
        if len(self._fingerprints) >= _REMEMBERED:
            del self._fingerprints[next(iter(self._fingerprints))]
        self._fingerprints[id(credentials)] = (credentials, fingerprint)
        return fingerprint

    async def acquire(self, keys: Sequence[LimitKey]) -> Decision:
        """Take one slot from every key, atomically (one script, one round trip), or none.

        A refusal reports the longest wait over the refusing keys. No keys: always allowed,
        without touching Redis. Raises ``ValueError`` if the keys do not share one hash tag
        (they could not run as one script on a cluster), :class:`RedisUnavailableError`
        when Redis fails.
        """
        if not keys:
            return Decision(True, 0.0)
        args: list[int] = []
        for key in keys:
            args.extend(key.gcra())
        args.append(_EXPIRY_MARGIN_MS)
        names = _same_slot(keys)
        try:
            allowed, wait_us = await self._scripts.run(self._acquire, names, args)
        except (RedisError, OSError) as exc:
            raise _unavailable("acquire", exc) from exc
        return Decision(True, 0.0) if allowed else Decision(False, int(wait_us) / 1_000_000)

    async def penalize(self, keys: Sequence[LimitKey], seconds: float) -> None:
        """Free no slot of any key before ``now + seconds`` (Redis time); never shortens a wait.

        Call it with a provider's ``retry_after``, so every worker backs off, not just this one.
        After the penalty the keys resume at the steady rate, without a burst: a provider that
        just answered 429 should not get the whole burst again. Raises
        :class:`RedisUnavailableError` when Redis fails (the caller waits anyway).
        """
        if not math.isfinite(seconds):
            raise ValueError(f"penalty must be a finite number of seconds, got {seconds!r}")
        if not keys or seconds <= 0:
            return
        args = [math.ceil(seconds * 1_000_000), *(key.gcra()[1] for key in keys), _EXPIRY_MARGIN_MS]
        names = _same_slot(keys)
        try:
            await self._scripts.run(self._penalize, names, args)
        except (RedisError, OSError) as exc:
            raise _unavailable("penalize", exc) from exc


def _same_slot(keys: Sequence[LimitKey]) -> list[str]:
    names = [key.redis_key for key in keys]
    tags = {_tag(name) for name in names}
    if len(tags) > 1:
        raise ValueError(
            "rate limit keys of one call must share a hash tag (one credential), "
            f"got {sorted(map(str, tags))}"
        )
    return names


def _unavailable(operation: str, exc: BaseException) -> RedisUnavailableError:
    # Redis errors name the host and the failure, never our arguments, so the message is safe.
    return RedisUnavailableError(
        f"rate limiter unavailable: Redis failed during {operation} "
        f"({type(exc).__name__}: {exc}); pausing instead of proceeding unlimited"
    )
