"""Renewing OAuth access tokens with one refresher per bot and provider across every worker.

The resolver calls :meth:`OAuthRefresher.refresh` when the credentials it is about to hand out
expire within its margin, when they have no access token yet (client credentials), or when the
provider has just rejected them. Then:

1. **Fast path.** A renewed pair another worker left in Redis (below) for the same stored
   version answers at once.
2. **One refresher.** ``SET NX PX`` on ``actionstream:oauth:{bot}:<provider>:<strategy>:lock``.
   Whoever loses waits for the lock to go, re-reads, and uses the winner's token: it never
   refreshes again. The winner re-reads the source first: another worker may have finished.
3. **Durable before used.** The token endpoint's answer is sealed (the cache's cipher) into
   ``…:pending`` *before* anything else, then written back to the source with a compare-and-set
   on ``version``, then ``pending`` is dropped. A worker killed in between leaves ``pending``: the
   next refresher completes the write-back instead of spending a single-use refresh token again.
   Sources that cannot be written (the environment) and client-credentials tokens (PayPal's, minted
   from the secrets, never written back) live in ``pending`` alone, shared by the workers.
4. **Dead grants are terminal.** An ``error`` the endpoint declares as such (``invalid_grant``)
   raises :class:`ReauthorisationRequiredError` and leaves ``…:reauth`` holding a keyed
   fingerprint of the grant: later requests fail at once, with no call, until the stored grant
   changes (the owner authorised again).

If a worker dies after the provider answered but before ``pending`` was written (one Redis
write's window), the pair is lost; with a rotating provider (AmoCRM) the old refresh token is
then spent, the next refresh meets ``invalid_grant``, and the bot is marked for re-authorisation:
``actionstream_oauth_refreshes_total{outcome="reauth_required"}`` and its FAILED results say so.

Nothing here logs or raises a token: messages name the bot, the provider and the endpoint's
``error`` code only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from redis.exceptions import RedisError

from integrations.credentials.cache import CredentialsStats, expires_at
from integrations.credentials.crypto import EntryCipher, UndecryptableEntry
from integrations.credentials.errors import (
    CredentialsUnavailableError,
    ReauthorisationRequiredError,
)
from integrations.credentials.keys import CredentialsKey
from integrations.credentials.oauth import TokenEndpoint, token_endpoint
from integrations.credentials.sources.base import (
    CredentialsSource,
    WritableCredentialsSource,
    version_of,
)
from integrations.errors import AuthError, PermanentError
from integrations.provider import read_bounded

if TYPE_CHECKING:
    from integrations.redis_types import RedisClient

__all__ = ["OAuthRefresher"]

log = logging.getLogger("actionstream.credentials")

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_REAUTH_TTL_S = 7 * 24 * 3600  # long enough for an owner to notice; a new grant clears it anyway
_MAX_TOKEN_ANSWER = 64 * 1024  # a token answer is a few hundred bytes; JWTs a few KiB
_PENDING_TTL_S = 30 * 24 * 3600  # a sole copy (unwritable source) must outlive any refresh token


@dataclass(frozen=True, slots=True)
class _Names:
    lock: str
    pending: str
    reauth: str


class OAuthRefresher:
    """The resolver's :class:`~integrations.credentials.resolver.CredentialsRefresher` for
    every provider that registered a :class:`~integrations.credentials.oauth.TokenEndpoint`.

    ``client`` posts to token endpoints (egress-checked, outside any action's send gate: asking
    for a token is not the action's call); ``token_urls`` moves an endpoint per provider
    (``EndpointSettings.token_url``). ``lock_ttl_s`` bounds how long a dead refresher blocks the
    others; ``wait_s`` how long a loser waits before it answers "unavailable, try later".
    """

    def __init__(
        self,
        source: CredentialsSource,
        redis: RedisClient,
        cipher: EntryCipher,
        client: httpx.AsyncClient,
        *,
        stats: CredentialsStats | None = None,
        token_urls: Mapping[str, str] | None = None,
        margin_s: float = 60.0,
        lock_ttl_s: float = 30.0,
        wait_s: float = 45.0,
        timeout_s: float = 10.0,
        namespace: str = "actionstream",
        endpoints: Callable[[str], TokenEndpoint | None] = token_endpoint,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._redis = redis
        self._cipher = cipher
        self._client = client
        self.stats = stats if stats is not None else CredentialsStats()
        self._token_urls = dict(token_urls or {})
        self._margin_s = margin_s
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._timeout_s = timeout_s
        self._namespace = namespace
        self._endpoints = endpoints
        self._clock = clock
        self._fingerprint_key = cipher.derive("oauth-grant-fingerprint/v1")
        # EVALSHA (loaded once): the ACL user the README lists may not EVAL.
        self._unlock_script = redis.register_script(_UNLOCK)

    async def refresh(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: Mapping[str, Any],
        *,
        rejected: str | None = None,
    ) -> dict[str, Any]:
        """Credentials with a usable access token (``rejected``: one the provider just refused).

        Raises :class:`ReauthorisationRequiredError` for a dead grant and
        ``CredentialsUnavailableError`` when no token can be had now (endpoint down, another
        worker's refresh not finished in ``wait_s``).
        """
        endpoint = self._endpoints(provider)
        if endpoint is None or strategy != "oauth":
            return dict(credentials)
        key = CredentialsKey(bot_id, provider, strategy)
        names = self._names(key)
        stale = {credentials.get("access_token"), rejected} - {None}
        if not self._writes_back(endpoint):  # pending is the shared copy: read it lock-free
            pending = await self._pending(names, version_of(credentials))
            if pending is not None and self._usable(pending, stale):
                return pending
        await self._refuse_dead_grant(names, credentials, key)
        deadline = time.monotonic() + self._wait_s
        while True:
            owner = secrets.token_hex(16)
            if await self._redis.set(names.lock, owner, nx=True, px=self._lock_ttl_ms):
                try:
                    return await self._renew(key, names, endpoint, stale)
                finally:
                    await self._unlock(names.lock, owner)
            self.stats.refresh_waits += 1
            await self._wait_unlocked(names.lock, deadline)
            current, _, write_back_due = await self._current(key, names)
            # A pending pair whose write-back is due is finished under the lock, not used here.
            if current is not None and not write_back_due and self._usable(current, stale):
                return current
            await self._refuse_dead_grant(names, current or credentials, key)
            if time.monotonic() >= deadline:
                self.stats.refresh_failures += 1
                raise CredentialsUnavailableError(
                    f"another worker's refresh of the {provider!r} token of bot {bot_id} did not "
                    f"finish in {self._wait_s:.0f}s; try later"
                )

    # -- under the lock ---------------------------------------------------------------------

    async def _renew(
        self, key: CredentialsKey, names: _Names, endpoint: TokenEndpoint, stale: set[Any]
    ) -> dict[str, Any]:
        current, source_version, pending = await self._current(key, names)
        if current is None:  # the bot's credentials are gone: nothing to renew
            return {}
        if pending:  # a refresher died before its write-back: finish it first
            stored = await self._write_back(key, names, current, source_version, endpoint)
            if stored:
                source_version = version_of(current)
        if self._usable(current, stale):
            return current
        await self._refuse_dead_grant(names, current, key)
        answer = await self._ask(key, endpoint, current)
        if answer is None:  # a static token without a way to renew it: use it as it is
            return current
        renewed = self._merge(current, answer, source_version)
        await self._keep_pending(key, names, renewed, source_version, answer)
        self.stats.tokens_renewed += 1
        log.info("renewed the %s access token of bot %s", key.provider, key.bot_id)
        if not await self._write_back(key, names, renewed, source_version, endpoint):
            stored_now = await self._source.fetch(*key)  # the platform's newer pair wins
            return stored_now if stored_now is not None else {}
        return renewed

    async def _ask(
        self, key: CredentialsKey, endpoint: TokenEndpoint, credentials: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The token endpoint's answer (a JSON object with ``access_token``), or ``None`` when
        these credentials carry nothing to renew with."""
        provider = key.provider
        form: dict[str, str] = {"grant_type": endpoint.grant}
        if endpoint.grant == "refresh_token":
            refresh_token = credentials.get("refresh_token")
            if not isinstance(refresh_token, str) or not refresh_token:
                return None
            form["refresh_token"] = refresh_token
        client_id, client_secret = credentials.get("client_id"), credentials.get("client_secret")
        if not (isinstance(client_id, str) and client_id and isinstance(client_secret, str)):
            if endpoint.grant == "client_credentials":
                raise AuthError(
                    f"the bot's {provider!r} credentials need 'client_id' and 'client_secret' "
                    "to obtain an access token"
                )
            return None
        for name in endpoint.carried:
            value = credentials.get(name)
            if isinstance(value, str):
                form[name] = value
        auth: httpx.Auth | None = None
        if endpoint.client_auth == "basic":
            auth = httpx.BasicAuth(client_id, client_secret)
        else:
            form.update(client_id=client_id, client_secret=client_secret)
        url = endpoint.url_for(credentials, self._token_urls.get(provider))
        where = f"the {provider} token endpoint (bot {key.bot_id})"
        request = self._client.build_request(
            "POST",
            url,
            data=form if endpoint.body == "form" else None,
            json=form if endpoint.body == "json" else None,
            headers={"Accept": "application/json"},
            timeout=self._timeout_s,
        )
        try:
            # Bounded: AmoCRM's endpoint is on the tenant's own host.
            response = await read_bounded(
                self._client, request, where=where, max_bytes=_MAX_TOKEN_ANSWER, auth=auth
            )
        except httpx.HTTPError as exc:
            self.stats.refresh_failures += 1
            raise CredentialsUnavailableError(f"{where} failed: {type(exc).__name__}") from None
        except PermanentError:
            self.stats.refresh_failures += 1
            raise
        body = _json(response)
        token = body.get("access_token") if body is not None else None
        if response.is_success and isinstance(token, str) and token:
            return body
        said = _codes(body)
        code = next((c for c in said if c in endpoint.reauthorise), said[0] if said else None)
        if code in endpoint.reauthorise:
            await self._mark_dead_grant(self._names(key), credentials)
            self.stats.reauth_required += 1
            log.warning("the %s grant of bot %s is gone (%s)", provider, key.bot_id, code)
            raise _dead_grant(key, code)
        self.stats.refresh_failures += 1
        status = response.status_code
        if status == 429 or status >= 500 or response.is_success:
            raise CredentialsUnavailableError(f"{where} answered {status} ({code or 'no error'})")
        raise AuthError(f"{where} refused to renew the token: HTTP {status} ({code or '?'})")

    def _merge(
        self, current: Mapping[str, Any], answer: Mapping[str, Any], source_version: int | None
    ) -> dict[str, Any]:
        renewed = copy.deepcopy(dict(current))
        renewed["access_token"] = answer["access_token"]
        refresh_token = answer.get("refresh_token")
        if isinstance(refresh_token, str) and refresh_token:  # a rotated one replaces the old
            renewed["refresh_token"] = refresh_token
        lifetime = _seconds(answer.get("expires_in"))
        if lifetime is not None:
            renewed["expires_at"] = int(self._clock() + lifetime)
        else:
            renewed.pop("expires_at", None)
        renewed["version"] = (source_version or 0) + 1
        return renewed

    async def _write_back(
        self,
        key: CredentialsKey,
        names: _Names,
        renewed: dict[str, Any],
        source_version: int | None,
        endpoint: TokenEndpoint,
    ) -> bool:
        """Persist ``renewed`` at the source (compare-and-set on ``source_version``), then drop
        pending; ``False`` when the source holds newer credentials than ours were based on."""
        source = self._source
        if not self._writes_back(endpoint) or not isinstance(source, WritableCredentialsSource):
            return True  # pending is the shared copy (see the module docstring)
        stored = await source.store(*key, renewed, expected_version=source_version)
        if not stored:
            # Someone stored a newer pair (the platform, after the owner authorised again):
            # ours is based on an older version, and _current ignores it from now on.
            log.warning(
                "the %s credentials of bot %s changed at the source during a refresh; keeping "
                "the source's",
                key.provider,
                key.bot_id,
            )
        await self._redis.delete(names.pending)
        return stored

    def _writes_back(self, endpoint: TokenEndpoint) -> bool:
        """Whether renewed tokens go back to the source (else they live in Redis alone)."""
        return endpoint.grant == "refresh_token" and isinstance(
            self._source, WritableCredentialsSource
        )

    # -- what is current ----------------------------------------------------------------------

    async def _current(
        self, key: CredentialsKey, names: _Names
    ) -> tuple[dict[str, Any] | None, int | None, bool]:
        """The source's credentials with a pending renewal based on them laid over, the
        source's version, and whether a pending renewal was used (its write-back is due)."""
        stored = await self._source.fetch(*key)
        if stored is None:
            return None, None, False
        source_version = version_of(stored)
        pending = await self._pending(names, source_version)
        if pending is None:
            return stored, source_version, False
        return pending, source_version, True

    def _usable(self, credentials: Mapping[str, Any], stale: set[Any]) -> bool:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token or token in stale:
            return False
        expiry = expires_at(credentials)
        return expiry is None or expiry - self._clock() >= self._margin_s

    # -- Redis ----------------------------------------------------------------------------------

    def _names(self, key: CredentialsKey) -> _Names:
        base = f"{self._namespace}:oauth:{{{key.bot_id}}}:{key.provider}:{key.strategy}"
        return _Names(lock=f"{base}:lock", pending=f"{base}:pending", reauth=f"{base}:reauth")

    async def _pending(self, names: _Names, base: int | None) -> dict[str, Any] | None:
        """The renewal kept in Redis for credentials at version ``base``, if there is one."""
        raw = await self._redis.get(names.pending)
        if raw is None:
            return None
        try:
            sealed = base64.b64decode(raw, validate=True)
            entry = json.loads(self._cipher.open(sealed, bound_to=names.pending))
            credentials, entry_base = entry["c"], entry["base"]
        except (UndecryptableEntry, binascii.Error, ValueError, KeyError, TypeError):
            return None
        if entry_base != base or not isinstance(credentials, dict):
            return None  # based on other stored credentials: not ours to lay over them
        return credentials

    async def _keep_pending(
        self,
        key: CredentialsKey,
        names: _Names,
        renewed: dict[str, Any],
        source_version: int | None,
        answer: Mapping[str, Any],
    ) -> None:
        """Seal ``renewed`` into Redis before it is used or written back (see the docstring)."""
        entry = {"c": renewed, "base": source_version}
        plaintext = json.dumps(entry, separators=(",", ":")).encode()
        value = base64.b64encode(self._cipher.seal(plaintext, bound_to=names.pending))
        lifetime = _seconds(answer.get("expires_in"))
        ttl_s = _PENDING_TTL_S if "refresh_token" in renewed else (lifetime or 3600.0)
        try:
            await self._redis.set(names.pending, value, px=int(ttl_s * 1000))
        except (RedisError, OSError):
            log.error(
                "could not keep the renewed %s token of bot %s in Redis before its write-back",
                key.provider,
                key.bot_id,
            )
            raise

    def _fingerprint(self, credentials: Mapping[str, Any]) -> str:
        grant = credentials.get("refresh_token") or (
            f"{credentials.get('client_id')}:{credentials.get('client_secret')}"
        )
        digest = hmac.new(self._fingerprint_key, str(grant).encode(), hashlib.sha256)
        return digest.hexdigest()

    async def _mark_dead_grant(self, names: _Names, credentials: Mapping[str, Any]) -> None:
        await self._redis.set(names.reauth, self._fingerprint(credentials), ex=_REAUTH_TTL_S)

    async def _refuse_dead_grant(
        self, names: _Names, credentials: Mapping[str, Any], key: CredentialsKey
    ) -> None:
        marked = await self._redis.get(names.reauth)
        if marked is None:
            return
        text = marked.decode() if isinstance(marked, bytes) else str(marked)
        if hmac.compare_digest(text, self._fingerprint(credentials)):
            self.stats.reauth_required += 1
            raise _dead_grant(key, None)

    async def _unlock(self, name: str, owner: str) -> None:
        with contextlib.suppress(RedisError, OSError):  # else it expires by itself
            await self._unlock_script(keys=[name], args=[owner])

    async def _wait_unlocked(self, name: str, deadline: float) -> None:
        # Polled: the winner is another process, and a lock that expires sends no message.
        # GET rather than EXISTS: the commands the README's ACL user has.
        while time.monotonic() < deadline and await self._redis.get(name) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _dead_grant(key: CredentialsKey, code: str | None) -> ReauthorisationRequiredError:
    why = f" ({code})" if code else ""
    return ReauthorisationRequiredError(
        f"the bot's {key.provider!r} authorisation is no longer valid{why}: its owner must "
        "authorise the app again; nothing was sent"
    )


_CODE_FIELDS = ("error", "status", "hint", "error_code")
"""Where token endpoints put what went wrong: RFC 6749's ``error``; HubSpot's ``status``
(``BAD_REFRESH_TOKEN``); AmoCRM's ``hint`` ("Token has been revoked")."""


def _codes(body: Mapping[str, Any] | None) -> list[str]:
    """The short strings a token endpoint's error answer names itself by, in that order."""
    if body is None:
        return []
    return [v[:80] for v in (body.get(f) for f in _CODE_FIELDS) if isinstance(v, str) and v]


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]  # int, or "3600" from some providers
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 10 * 365 * 24 * 3600 else None
