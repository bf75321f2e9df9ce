"""Idempotency records in Redis: claim → execute → store result, one atomic script per step.

Every call is claimed immediately before it starts (key: the request's ``idempotency_key``, else
its ``request_id``), so a redelivered or replayed request re-emits the stored result instead of
running its side effect twice (design.md, Guarantee 3), and a lease that ran out means a call
may really have left (the processor claims only after credentials and rate limits, and keeps the
lease renewed while the call runs: :mod:`processors.leases`). State machine of one record::

                claim            complete (the first one wins)
      absent ─────────▶ LEASED ──────────────────────────────▶ DONE ──(result_ttl_s)──▶ absent
                        │ ▲  ▲ │ lease over + another owner's claim
                release │ │  └─┘ (ACQUIRED_AFTER_UNKNOWN, attempts+1)
                        ▼ │ claim
                  FREE / UNKNOWN ──(lease_s + unknown_ttl_s)──▶ absent

    state    claim by the holder     claim by another owner           release(outcome_unknown=)
    absent   (as another owner)      ACQUIRED → LEASED                —
    FREE     (as another owner)      ACQUIRED → LEASED                —
    UNKNOWN  (as another owner)      ACQUIRED_AFTER_UNKNOWN → LEASED  —
    LEASED   its grant, new lease    lease live: BUSY(retry_after)    False → FREE (UNKNOWN if
                                     lease over: ACQUIRED_AFTER_      the grant was AFTER_UNKNOWN)
                                       UNKNOWN → LEASED (ACQUIRED     True → UNKNOWN
                                       if an unmarked reservation)
    DONE     DONE + result           DONE + result                    —

A claim with ``reserve`` is a *reservation*: it makes the attempt the owner, but no call has left
under it until ``MARK_SCRIPT`` marks it, which the send gate writes in the same step as the
request (:mod:`processors.call_marks`). A reservation whose lease ran out unmarked is granted
again as ``ACQUIRED``: its holder died before anything left. Claims without ``reserve`` are
marked as they are granted.

Every grant counts one attempt. ``complete`` moves any state but DONE to DONE (it is accepted after
the lease ran out: the side effect did happen); on DONE it returns False and keeps the first result.

Claims answer ``ACQUIRED`` (nobody can have run it), ``ACQUIRED_AFTER_UNKNOWN`` (an earlier attempt
may have had its side effect: the processor applies the integration's ``side_effect`` policy),
``BUSY`` (a live lease elsewhere) or ``DONE`` (with the stored result bytes).

Layout: one hash per request at ``<namespace>:idem:{<bot>}:<key>``. The ``{<bot>}`` hash tag puts
all of a bot's records on one Redis Cluster slot. ``<bot>`` is the bot id when it is made of
``[A-Za-z0-9_.-]{1,128}``, else ``~`` + SHA-256 of it: ``~`` is outside the plain alphabet, so an
encoded id never equals a plain one, and ``}`` or ``:`` in an id can never end the tag early.
``<key>`` is the last segment, so it may hold anything; keys over 200 bytes or starting with ``#``
become ``#`` + SHA-256 of the key.

Hash fields: ``s`` state (``l`` leased, ``u`` unknown, ``f`` free, ``d`` done), ``o`` owner (holder,
last holder or completer), ``a`` attempts, ``e`` lease end (ms, Redis clock), ``k`` ``u`` when the
current grant came after an unknown outcome (sticky: it survives a clean release), ``m`` ``0``
while the grant is an unmarked reservation, ``1`` once a call may have left under it, ``c``
completed_at (ms), ``r`` the result. A hash rather than a packed string: each script reads only the
fields it needs with HMGET and ``HGETALL`` is readable by an operator. (A stored result is over
Redis's ``hash-max-listpack-value``, 64 B, so records are ``hashtable``-encoded; the README's Redis
sizing has the measured bytes.) Times come from ``TIME`` inside the scripts, so worker clocks do
not matter.

Why records outlive their lease: a lease ends at ``e``, but the key lives ``lease_s +
unknown_ttl_s`` (default: as long as results, 7 days). The record of a worker that died mid-call
is the only evidence that the side effect may have happened; if it expired with the lease, a
redelivery after a long outage would be ``ACQUIRED`` and an at-most-once integration would run
twice. Abandoned records are rare (crashes), so the memory cost is small.

Every operation is idempotent for the same owner, so retrying one after
:class:`RedisUnavailableError` (the reply may have been lost after Redis ran it) is safe.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from redis.typing import EncodableT

from integrations.redis_types import RedisClient
from processors.call_marks import CallMarks
from processors.redis_scripts import RedisUnavailableError, ScriptRunner

MAX_RESULT_BYTES = 1024 * 1024  # results are Avro IntegrationResults; anything bigger is a bug
_MAX_PLAIN_KEY_BYTES = 200
_PLAIN_BOT = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-:]{1,64}")  # no braces: they would move the hash tag

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] record; ARGV owner, lease_ms, keep_ms (lease + unknown TTL), reserve ('1': the grant
# is a reservation, marked by MARK as its call leaves; '0': a call may leave from now on).
# Returns {state, attempts, retry_after_ms, owner, result}.
_CLAIM = (
    _PRELUDE
    + """
local s, o, a, e, k, m, r = unpack(redis.call('HMGET', KEYS[1], 's', 'o', 'a', 'e', 'k', 'm', 'r'))
a = tonumber(a) or 0
if s == 'd' then return {'done', a, 0, o, r} end
local after_unknown = (s == 'u')
if s == 'l' then
  if o == ARGV[1] then  -- the holder asking again (e.g. a retried call): same grant, fresh lease
    redis.call('HSET', KEYS[1], 'e', now + tonumber(ARGV[2]))
    if ARGV[4] ~= '1' then redis.call('HSET', KEYS[1], 'm', '1') end
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {k == 'u' and 'acquired_after_unknown' or 'acquired', a, 0, o, false}
  end
  local left = tonumber(e) - now
  if left > 0 then return {'busy', a, left, o, false} end
  -- The holder's lease ran out: its side effect may have happened, unless it only held a
  -- reservation no call had left under (m '0'; a record without 'm' predates reservations).
  after_unknown = m ~= '0' or k == 'u'
end
a = a + 1
redis.call('HSET', KEYS[1], 's', 'l', 'o', ARGV[1], 'a', a, 'e', now + tonumber(ARGV[2]),
           'k', after_unknown and 'u' or 'a', 'm', ARGV[4] == '1' and '0' or '1')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {after_unknown and 'acquired_after_unknown' or 'acquired', a, 0, ARGV[1], false}
"""
)

# KEYS[1] record. A call may have left under the current lease, whoever holds it (a mark from a
# holder that lost its lease only makes the new holder's outcome more doubtful, never less).
MARK_SCRIPT = """
if redis.call('HMGET', KEYS[1], 's')[1] == 'l' then
  redis.call('HSET', KEYS[1], 'm', '1')
  return 1
end
return 0
"""

# ARGV owner, lease_ms, keep_ms. Extends the lease while the owner still holds it (even if it ran
# out, as long as nobody took it over).
_RENEW = (
    _PRELUDE
    + """
local s, o = unpack(redis.call('HMGET', KEYS[1], 's', 'o'))
if s ~= 'l' or o ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'e', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# ARGV owner, result, result_ttl_ms. First completion wins; a repeat by the same owner is a no-op.
_COMPLETE = (
    _PRELUDE
    + """
local s, o, a = unpack(redis.call('HMGET', KEYS[1], 's', 'o', 'a'))
if s == 'd' then return o == ARGV[1] and 1 or 0 end
redis.call('HDEL', KEYS[1], 'e', 'k')
redis.call('HSET', KEYS[1], 's', 'd', 'o', ARGV[1], 'a', math.max(tonumber(a) or 0, 1),
           'c', now, 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# ARGV owner, outcome_unknown (0/1), keep_ms. A clean release of a grant that itself came after an
# unknown outcome goes back to UNKNOWN: the earlier attempt's doubt is not cleared by this one.
_RELEASE = """
local s, o, k = unpack(redis.call('HMGET', KEYS[1], 's', 'o', 'k'))
if o ~= ARGV[1] then return 0 end
if s == 'u' or s == 'f' then return 1 end  -- already released by this owner (a retried call)
if s ~= 'l' then return 0 end
redis.call('HSET', KEYS[1], 's', (ARGV[2] == '1' or k == 'u') and 'u' or 'f')
redis.call('HDEL', KEYS[1], 'e')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class ClaimState(StrEnum):
    """What a claim found; see the module docstring for the state machine."""

    ACQUIRED = "acquired"
    ACQUIRED_AFTER_UNKNOWN = "acquired_after_unknown"
    BUSY = "busy"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Claim:
    """Answer to :meth:`IdempotencyStore.claim`.

    ``attempts`` counts grants (ACQUIRED*) so far, this one included. ``retry_after_s`` is the
    holder's remaining lease (BUSY only); ``result`` the stored bytes (DONE only); ``owner`` the
    holder (ACQUIRED*, BUSY) or the completer (DONE).
    """

    state: ClaimState
    attempts: int
    retry_after_s: float | None = None
    result: bytes | None = None
    owner: str | None = None


class ResultTooLargeError(ValueError):
    """A result over :data:`MAX_RESULT_BYTES` was given to :meth:`IdempotencyStore.complete`."""


class IdempotencyStore:
    """Idempotency records of requests, one Redis hash each, one EVALSHA per operation.

    ``redis`` must return bytes (``decode_responses=False``): results are binary Avro. Its retry
    policy decides how long an operation takes to fail while Redis is down (redis-py's default, 10
    retries with backoff, takes about 3 s per operation).
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        namespace: str = "actionstream",
        lease_s: float = 60.0,
        result_ttl_s: float = 7 * 86400.0,
        unknown_ttl_s: float | None = None,
        scripts: ScriptRunner | None = None,
        marks: CallMarks | None = None,
    ) -> None:
        if redis.get_encoder().decode_responses:
            raise ValueError("IdempotencyStore needs a Redis client with decode_responses=False")
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"invalid namespace {namespace!r}: expected [A-Za-z0-9_.:-]{{1,64}}")
        unknown_ttl_s = result_ttl_s if unknown_ttl_s is None else unknown_ttl_s
        for name, value in (("lease_s", lease_s), ("result_ttl_s", result_ttl_s)):
            if value < 0.001:
                raise ValueError(f"{name} must be at least 1 ms, got {value!r}")
        if unknown_ttl_s < 0:
            raise ValueError(f"unknown_ttl_s must not be negative, got {unknown_ttl_s!r}")
        self._prefix = f"{namespace}:idem:".encode()
        self._lease_ms = int(lease_s * 1000)
        self._keep_ms = self._lease_ms + int(unknown_ttl_s * 1000)
        self._result_ttl_ms = int(result_ttl_s * 1000)
        # The scripts run with EVALSHA (batched with concurrent calls, see redis_scripts.py) and
        # are loaded on the first NOSCRIPT reply.
        self._scripts = scripts or ScriptRunner(redis)
        self._claim = self._scripts.register(_CLAIM)
        self._renew = self._scripts.register(_RENEW)
        self._complete = self._scripts.register(_COMPLETE)
        self._release = self._scripts.register(_RELEASE)
        self._mark = self._scripts.register(MARK_SCRIPT)
        self._marks = marks

    def key(self, bot_id: str, key: str) -> bytes:
        """The Redis key of a record (see the module docstring for the encoding)."""
        if not bot_id or not key:
            raise ValueError("bot_id and key must be non-empty")
        bot = bot_id.encode("utf-8", "surrogatepass")
        if not _PLAIN_BOT.fullmatch(bot_id):
            bot = b"~" + hashlib.sha256(bot).hexdigest().encode()
        raw = key.encode("utf-8", "surrogatepass")
        if len(raw) > _MAX_PLAIN_KEY_BYTES or raw.startswith(b"#"):
            raw = b"#" + hashlib.sha256(raw).hexdigest().encode()
        return b"%s{%s}:%s" % (self._prefix, bot, raw)

    @property
    def lease_s(self) -> float:
        """How long a claim's lease lasts without renewal."""
        return self._lease_ms / 1000

    async def claim(
        self,
        bot_id: str,
        key: str,
        owner: str,
        *,
        reserve: bool = False,
        then: Callable[[Claim], None] | None = None,
    ) -> Claim:
        """Try to take the lease on a request; ``owner`` must be unique per attempt.

        ``reserve``: no call may leave until :meth:`mark_now` or :meth:`mark` marked the record;
        a reservation whose lease ran out unmarked is granted again as ``ACQUIRED``. ``then`` gets
        the claim as soon as Redis's reply is read, before this returns (see
        :meth:`processors.redis_scripts.ScriptRunner.run`).
        """
        args = (owner, self._lease_ms, self._keep_ms, b"1" if reserve else b"0")
        claimed: list[Claim] = []

        def on_reply(reply: Any) -> None:  # the runner calls it before answering (see run())
            claimed.append(_claim_of(reply))
            if then is not None:
                then(claimed[0])

        await self._run("claim", self._claim, bot_id, key, args, durable=True, then=on_reply)
        return claimed[0]

    @property
    def marks_now(self) -> bool:
        """Whether :meth:`mark_now` can write marks (else claims are taken unreserved)."""
        return self._marks is not None

    def mark_now(self, bot_id: str, key: str) -> asyncio.Future[Any] | None:
        """Mark the record "a call may have left", written to Redis before this returns (see
        :class:`processors.call_marks.CallMarks`); ``None`` when it could not be written now."""
        return None if self._marks is None else self._marks.write(self.key(bot_id, key))

    async def mark(self, bot_id: str, key: str, owner: str) -> None:
        """Mark the record, waiting for Redis's reply (when :meth:`mark_now` could not)."""
        await self._run("mark", self._mark, bot_id, key, (owner,))

    async def renew(self, bot_id: str, key: str, owner: str) -> bool:
        """Extend the lease to ``lease_s`` from now; False when ``owner`` no longer holds it.

        A lease that ran out is still renewed if nobody took it over meanwhile.
        """
        args = (owner, self._lease_ms, self._keep_ms)
        return bool(await self._run("renew", self._renew, bot_id, key, args))

    async def complete(self, bot_id: str, key: str, owner: str, result: bytes) -> bool:
        """Store the final result (state DONE, TTL ``result_ttl_s``).

        Succeeds even if the lease ran out meanwhile (the side effect did happen); returns False,
        keeping the stored result, when another owner completed first.
        """
        if len(result) > MAX_RESULT_BYTES:
            raise ResultTooLargeError(
                f"idempotency result for bot {bot_id!r} key {key!r} is {len(result)} bytes; "
                f"the limit is {MAX_RESULT_BYTES}"
            )
        args = (owner, result, self._result_ttl_ms)
        return bool(await self._run("complete", self._complete, bot_id, key, args))

    async def release(self, bot_id: str, key: str, owner: str, *, outcome_unknown: bool) -> bool:
        """Give the lease back before a retry; False when ``owner`` does not hold it.

        ``outcome_unknown=False``: the action certainly did not happen, the next claim is ACQUIRED
        (unless an earlier attempt's outcome is already unknown). ``True``: the next claim is
        ACQUIRED_AFTER_UNKNOWN. The record (and its attempt count) is kept ``unknown_ttl_s``.
        """
        args = (owner, 1 if outcome_unknown else 0, self._keep_ms)
        return bool(await self._run("release", self._release, bot_id, key, args))

    async def _run(
        self,
        op: str,
        script: AsyncScript,
        bot_id: str,
        key: str,
        args: tuple[EncodableT, ...],
        *,
        durable: bool = False,
        then: Callable[[Any], None] | None = None,
    ) -> Any:
        if not args[0]:
            raise ValueError("owner must be non-empty")
        name = self.key(bot_id, key)
        try:
            return await self._scripts.run(script, [name], args, durable=durable, then=then)
        except RedisUnavailableError:
            raise
        except (RedisError, OSError) as exc:
            # OSError: a socket error redis-py did not wrap. Both mean "cannot tell": the caller
            # pauses and retries with the same owner (every script is idempotent for it).
            raise RedisUnavailableError(
                f"idempotency {op} of {name.decode(errors='replace')!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _claim_of(reply: Any) -> Claim:
    state_b, attempts, retry_after_ms, holder, result = reply
    state = ClaimState(state_b.decode())
    return Claim(
        state=state,
        attempts=int(attempts),
        retry_after_s=int(retry_after_ms) / 1000 if state is ClaimState.BUSY else None,
        result=result,
        owner=holder.decode() if holder is not None else None,
    )
