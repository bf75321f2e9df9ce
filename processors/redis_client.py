"""How the worker connects to Redis: topology, TLS and an ACL user from :class:`RedisSettings`.

The worker's pool (:mod:`processors.runtime`), the readiness probe and the start-up login check
all build their clients with :func:`make_client`, for a single server, a Redis Cluster or a
Sentinel-managed master alike. Settings that cannot work raise :class:`RedisConfigError` naming
the variable, before any connection is tried.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisClusterException, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations.redis_types import RedisClient
from processors.settings import RedisSettings

__all__ = [
    "RedisConfigError",
    "Topology",
    "connection_options",
    "login_problem",
    "make_client",
    "topology",
]

_VAR = "ACTIONSTREAM_REDIS__"


class RedisConfigError(ValueError):
    """The Redis connection settings cannot work; the message names the variable to fix."""


@dataclass(frozen=True)
class Topology:
    """Where Redis is: the addresses to connect to (seed nodes or sentinels) and whether TLS."""

    kind: str
    addresses: tuple[tuple[str, int], ...]
    tls: bool


def topology(redis: RedisSettings) -> Topology:
    """The addresses and TLS choice the settings name; :class:`RedisConfigError` if unusable."""
    if redis.topology == "single":
        parts = urlsplit(redis.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        return Topology("single", ((host, port),), redis.url.startswith("rediss://"))
    what = "seed nodes" if redis.topology == "cluster" else "sentinels"
    entries = [entry.strip() for entry in redis.nodes.split(",") if entry.strip()]
    if not entries:
        raise RedisConfigError(
            f"{_VAR}TOPOLOGY={redis.topology} needs {_VAR}NODES: the {what} as host:port,host:port"
        )
    if redis.topology == "sentinel" and not redis.master_name.strip():
        raise RedisConfigError(
            f"{_VAR}TOPOLOGY=sentinel needs {_VAR}MASTER_NAME: the name the sentinels monitor"
        )
    addresses: list[tuple[str, int]] = []
    schemes: set[bool] = set()
    for entry in entries:
        scheme, _, rest = entry.rpartition("://")
        if scheme not in ("", "redis", "rediss"):
            raise RedisConfigError(
                f"{_VAR}NODES entry {entry!r}: use host:port or rediss://host:port"
            )
        host, _, digits = rest.rpartition(":")
        if not host or not digits.isdigit() or not 0 < int(digits) < 65536:
            raise RedisConfigError(f"{_VAR}NODES entry {entry!r}: expected host:port")
        addresses.append((host.strip("[]"), int(digits)))
        schemes.add(scheme == "rediss")
    if len(schemes) > 1:
        raise RedisConfigError(f"{_VAR}NODES mixes rediss:// and plain entries: use one for all")
    return Topology(redis.topology, tuple(addresses), schemes.pop())


def make_client(redis: RedisSettings, **tuning: Any) -> RedisClient:
    """A client for the configured topology; ``tuning`` are pool options (``max_connections``,
    timeouts, ``retry``) every topology accepts. ``max_connections`` is per node on a cluster."""
    where = topology(redis)
    options = connection_options(redis)
    if where.kind == "single":
        return aioredis.Redis(
            connection_pool=aioredis.ConnectionPool.from_url(redis.url, **options, **tuning)
        )
    if where.tls:
        options["ssl"] = True
    if where.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in where.addresses]
        # No cluster-level retry: on a node's connection error it closes every node's
        # connections and re-runs the whole pipeline, failing the healthy masters' calls too.
        # Callers retry (the processor pauses the bot), ScriptRunner refreshes the slot map.
        cluster_tuning = {**tuning, "retry": Retry(NoBackoff(), retries=0)}
        return aioredis.RedisCluster(startup_nodes=nodes, **options, **cluster_tuning)
    sentinel_options = {k: v for k, v in options.items() if k not in ("username", "password")}
    if redis.sentinel_username:
        sentinel_options["username"] = redis.sentinel_username
    if redis.sentinel_password is not None:
        sentinel_options["password"] = redis.sentinel_password.get_secret_value()
    timeouts = {k: v for k, v in tuning.items() if k.startswith("socket_")}
    # (Sentinel's __init__ is untyped before redis 8.2: the ignore covers both)
    sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        list(where.addresses), sentinel_kwargs={**sentinel_options, **timeouts}, **options
    )
    master: aioredis.Redis = sentinel.master_for(redis.master_name.strip(), **tuning)
    return master


def connection_options(redis: RedisSettings) -> dict[str, Any]:
    """Login and TLS keyword arguments for a client or pool of the configured topology (TLS
    itself is on with ``rediss://``: in the URL for a single server, ``ssl=True`` otherwise)."""
    options: dict[str, Any] = {}
    if redis.username:
        options["username"] = redis.username
    if redis.password is not None:
        options["password"] = redis.password.get_secret_value()
    elif redis.password_file is not None:
        try:
            options["password"] = redis.password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise RedisConfigError(
                f"{_VAR}PASSWORD_FILE={redis.password_file}: cannot read it ({exc.strerror})"
            ) from None
    tls = topology(redis).tls
    files = {"SSL_CA_CERTS": redis.ssl_ca_certs, "SSL_CERTFILE": redis.ssl_certfile,
             "SSL_KEYFILE": redis.ssl_keyfile}  # fmt: skip
    given = {name: path for name, path in files.items() if path is not None}
    if given and not tls:
        name = next(iter(given))
        where = "URL" if redis.topology == "single" else "NODES"
        raise RedisConfigError(
            f"{_VAR}{name} is set but {_VAR}{where} is not rediss://: use rediss:// for TLS"
        )
    for name, path in given.items():
        if not path.is_file():
            raise RedisConfigError(f"{_VAR}{name}={path}: no such file")
    if tls:
        options["ssl_check_hostname"] = redis.ssl_check_hostname
        options["ssl_cert_reqs"] = "required"
        if redis.ssl_ca_certs is not None:
            options["ssl_ca_certs"] = str(redis.ssl_ca_certs)
        if redis.ssl_certfile is not None:
            options["ssl_certfile"] = str(redis.ssl_certfile)
        if redis.ssl_keyfile is not None:
            options["ssl_keyfile"] = str(redis.ssl_keyfile)
    return options


async def login_problem(redis: RedisSettings, *, timeout_s: float = 5.0) -> str | None:
    """Why these settings cannot log in to Redis (a refused user, an untrusted certificate),
    naming the setting to fix; ``None`` when they can, or when Redis does not answer at all
    (down or starting: the worker waits for it, and ``/readyz`` says so)."""
    client = make_client(redis, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        await client.ping()
    except Exception as exc:
        return _refusal(redis, unwrap(exc))
    finally:
        await client.aclose()
    return None


def unwrap(exc: BaseException) -> BaseException:
    """The error under a cluster client's "cannot be connected" (a refused login, a TLS
    failure), so each topology reports it the same way."""
    while isinstance(exc, RedisClusterException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _refusal(redis: RedisSettings, exc: BaseException) -> str | None:
    if isinstance(exc, AuthenticationError):
        return f"Redis refused {_VAR}USERNAME / {_VAR}PASSWORD ({exc}); check them"
    if isinstance(exc, ResponseError):  # NOAUTH, NOPERM: the user exists but may not do this
        return f"Redis refused the worker's user ({exc}); see the README's Redis ACL user"
    if isinstance(exc, RedisConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError) else None
        if why is None and "certificate verify failed" not in str(exc):
            return None  # down or starting: not a refusal
        detail = f" ({why})" if why else ""
        at = redis.url if redis.topology == "single" else redis.nodes
        return (
            f"Redis at {at}: its certificate is not trusted{detail}; set "
            f"{_VAR}SSL_CA_CERTS to the CA that signed it"
        )
    return None  # down, starting or timing out: the worker waits, /readyz says why
