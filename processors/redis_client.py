"""How the worker connects to Redis: TLS and an ACL user from :class:`RedisSettings`, in one place.

Both the worker's pool (:mod:`processors.runtime`) and the readiness probe build their clients with
``**connection_options(settings.redis)``. Settings that cannot work raise
:class:`RedisConfigError` naming the variable, before any connection is tried.
"""

from __future__ import annotations

import ssl
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from processors.settings import RedisSettings

__all__ = ["RedisConfigError", "connection_options", "login_problem"]

_VAR = "ACTIONSTREAM_REDIS__"


class RedisConfigError(ValueError):
    """The Redis connection settings cannot work; the message names the variable to fix."""


def connection_options(redis: RedisSettings) -> dict[str, Any]:
    """Keyword arguments for ``redis.asyncio.ConnectionPool.from_url(redis.url, ...)``."""
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
    tls = redis.url.startswith("rediss://")
    files = {"SSL_CA_CERTS": redis.ssl_ca_certs, "SSL_CERTFILE": redis.ssl_certfile,
             "SSL_KEYFILE": redis.ssl_keyfile}  # fmt: skip
    given = {name: path for name, path in files.items() if path is not None}
    if given and not tls:
        name = next(iter(given))
        raise RedisConfigError(
            f"{_VAR}{name} is set but {_VAR}URL is not rediss://: use rediss:// for TLS"
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
    client = aioredis.Redis.from_url(
        redis.url, **connection_options(redis), socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
    )  # fmt: skip
    try:
        await client.ping()
    except AuthenticationError as exc:
        return f"Redis refused {_VAR}USERNAME / {_VAR}PASSWORD ({exc}); check them"
    except ResponseError as exc:  # NOAUTH, NOPERM: the user exists but may not do this
        return f"Redis refused the worker's user ({exc}); see the README's Redis ACL user"
    except RedisConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        why = cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError) else None
        if why is None and "certificate verify failed" not in str(exc):
            return None  # down or starting: not a refusal
        detail = f" ({why})" if why else ""
        return (
            f"Redis at {redis.url}: its certificate is not trusted{detail}; set "
            f"{_VAR}SSL_CA_CERTS to the CA that signed it"
        )
    except (OSError, TimeoutError):
        return None
    finally:
        await client.aclose()
    return None
