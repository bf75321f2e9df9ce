"""How the worker connects to Redis: TLS and an ACL user from :class:`RedisSettings`, in one place.

Both the worker's pool (:mod:`processors.runtime`) and the readiness probe build their clients with
``**connection_options(settings.redis)``. Settings that cannot work raise
:class:`RedisConfigError` naming the variable, before any connection is tried.
"""

from __future__ import annotations

from typing import Any

from processors.settings import RedisSettings

__all__ = ["RedisConfigError", "connection_options"]

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
