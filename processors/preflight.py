"""What the worker checks before it starts: settings that cannot work end it with one clear line.

:func:`load_settings` checks what needs no connection (exit 2); :func:`login_problem` logs in to
Kafka and Redis once (exit 1).

A configuration error found at start-up (a missing or malformed key, a value of the wrong type, a
misspelt ``ACTIONSTREAM_*`` variable, Kafka connection settings that contradict each other) is a
:class:`ConfigError` with the variable and the fix in its message; the command line prints that
message alone and exits 2, with no traceback (``--debug`` shows one).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from pydantic import ValidationError

from integrations.credentials import CredentialsConfigError, EntryCipher
from integrations.tls import TlsConfigError, tls_verification
from processors.redis_client import RedisConfigError, connection_options
from processors.redis_client import login_problem as redis_login_problem
from processors.settings import Settings
from processors.settings_names import PREFIX, setting_names, unknown_settings
from topics.connection import KafkaConfigError, access_problems, client_options, diagnose

__all__ = ["ConfigError", "load_settings", "login_problem"]


class ConfigError(Exception):
    """The worker cannot start with this configuration; the message says what to change."""


def load_settings(environ: Mapping[str, str] | None = None, *, worker: bool = False) -> Settings:
    """Settings from the environment, checked (for a ``worker``, its credentials key too);
    :class:`ConfigError` otherwise."""
    environ = os.environ if environ is None else environ
    unknown = unknown_settings(environ)
    if unknown:
        raise ConfigError("; ".join(_unknown(name) for name in sorted(unknown)))
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError("; ".join(_invalid(error) for error in exc.errors())) from None
    try:
        client_options(settings.kafka)
        connection_options(settings.redis)
        tls_verification(settings.schema_registry.ca_file, "ACTIONSTREAM_SCHEMA_REGISTRY__CA_FILE")
        tls_verification(
            settings.credentials.http_ca_file, "ACTIONSTREAM_CREDENTIALS__HTTP_CA_FILE"
        )
        key = settings.credentials.encryption_key
        given = key is not None and bool(key.get_secret_value().strip())
        # Without a key in dev mode there is nothing to check (the runtime makes an ephemeral
        # one, and says so once).
        if worker and (given or not settings.dev_mode):
            EntryCipher.from_settings(key, dev_mode=settings.dev_mode)
    except (KafkaConfigError, RedisConfigError, TlsConfigError, CredentialsConfigError) as exc:
        raise ConfigError(str(exc)) from None
    return settings


def _unknown(name: str) -> str:
    names = setting_names()
    same_section = [n for n in names if n.startswith(name.split("__")[0])]
    close = difflib.get_close_matches(name, same_section or names, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{name} is not a setting actionstream reads{hint}"


def _invalid(error: object) -> str:
    assert isinstance(error, dict)
    name = PREFIX + "__".join(str(part).upper() for part in error.get("loc", ()))
    value = error.get("input")
    shown = repr(value) if isinstance(value, str | int | float) else "the value given"
    return f"{name}={shown}: {error.get('msg', 'invalid')}"


async def login_problem(settings: Settings) -> str | None:
    """Why the worker cannot log in to Kafka or Redis with these settings, naming the setting or
    the ACL to fix; ``None`` when it can, or when a service does not answer yet (the worker
    waits for it, and ``/readyz`` says why it is not ready)."""
    kafka = settings.kafka
    problem = await diagnose(kafka)
    if problem is not None and not problem.unreachable:
        return problem
    if problem is None:
        topics = settings.topics
        names = [topics.requests, topics.retry, topics.results, topics.dlq, topics.commands]
        lacking = await access_problems(kafka, names, kafka.consumer_group)
        if lacking:
            who = kafka.sasl_username or "the worker's principal"
            return f"Kafka denies {who}: {'; '.join(lacking)} (README: Kafka ACLs)"
    return await redis_login_problem(settings.redis)
