"""How every Kafka client of ours connects: one place turns :class:`KafkaSettings` into options.

The worker (through Faust), the publisher, the admin, the readers and the readiness probe all
build their aiokafka clients with ``**client_options(brokers)``, so TLS, SASL (PLAIN, SCRAM,
OAUTHBEARER) and mTLS are configured once, as ``ACTIONSTREAM_KAFKA__…`` settings. ``brokers`` may
also be a bare ``"host:port,…"`` string: a plaintext connection, as tests and scripts use.

A setting that cannot work (a CA file that is not there, a SASL mechanism without a password)
raises :class:`KafkaConfigError` naming the variable and the fix, before any connection is tried.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.abc import AbstractTokenProvider
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from topics.settings import KafkaSettings

__all__ = [
    "Brokers",
    "Diagnosis",
    "KafkaConfigError",
    "bootstrap_of",
    "client_options",
    "diagnose",
    "refusal",
    "ssl_context",
]

Brokers = KafkaSettings | str

_VAR = "ACTIONSTREAM_KAFKA__"


class KafkaConfigError(ValueError):
    """The Kafka connection settings cannot work; the message names the variable to fix."""


def settings_of(brokers: Brokers) -> KafkaSettings:
    """``brokers`` as settings (a bare address is a plaintext connection to it)."""
    return (
        brokers if isinstance(brokers, KafkaSettings) else KafkaSettings(bootstrap_servers=brokers)
    )


def client_options(brokers: Brokers) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``/``Consumer``/``AdminClient``/``Client``."""
    kafka = settings_of(brokers)
    check(kafka)
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(kafka)
    if kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism
        if kafka.sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = token_provider(kafka)
        else:
            options["sasl_plain_username"] = kafka.sasl_username
            options["sasl_plain_password"] = sasl_password(kafka)
    return options


def bootstrap_of(brokers: Brokers) -> str:
    """The ``host:port,…`` list ``brokers`` names (for messages)."""
    return settings_of(brokers).bootstrap_servers


def check(kafka: KafkaSettings) -> None:
    """Raise :class:`KafkaConfigError` for settings that contradict each other."""
    sasl = kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    tls = kafka.security_protocol in ("SSL", "SASL_SSL")
    protocol = f"{_VAR}SECURITY_PROTOCOL={kafka.security_protocol}"
    if sasl and kafka.sasl_mechanism is None:
        raise KafkaConfigError(
            f"{protocol} needs {_VAR}SASL_MECHANISM: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or "
            "OAUTHBEARER"
        )
    if not sasl and kafka.sasl_mechanism is not None:
        raise KafkaConfigError(
            f"{_VAR}SASL_MECHANISM={kafka.sasl_mechanism} is set but {protocol} has no SASL; "
            "use SASL_SSL (or SASL_PLAINTEXT on a trusted network)"
        )
    if sasl and kafka.sasl_mechanism == "OAUTHBEARER" and not kafka.sasl_oauth_token_provider:
        raise KafkaConfigError(
            f"{_VAR}SASL_MECHANISM=OAUTHBEARER needs {_VAR}SASL_OAUTH_TOKEN_PROVIDER, the "
            "'module:attribute' of an aiokafka AbstractTokenProvider"
        )
    if sasl and kafka.sasl_mechanism != "OAUTHBEARER":
        if not kafka.sasl_username:
            raise KafkaConfigError(f"SASL {kafka.sasl_mechanism} needs {_VAR}SASL_USERNAME")
        if kafka.sasl_password is None and kafka.sasl_password_file is None:
            raise KafkaConfigError(
                f"SASL {kafka.sasl_mechanism} needs {_VAR}SASL_PASSWORD or "
                f"{_VAR}SASL_PASSWORD_FILE (a mounted Secret)"
            )
    given = [name for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
             if getattr(kafka, name) is not None]  # fmt: skip
    if given and not tls:
        raise KafkaConfigError(
            f"{_VAR}{given[0].upper()} is set but {protocol} has no TLS; use SSL or SASL_SSL"
        )


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """A TLS context that verifies the brokers (with ``ssl_cafile``, else the system CAs) and,
    with ``ssl_certfile``, presents a client certificate (mTLS)."""
    cafile = kafka.ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaConfigError(
            f"{_VAR}SSL_CAFILE={cafile}: cannot load it as PEM CA certificates ({exc}); point it "
            "at the CA bundle that signed the brokers' certificates"
        ) from None
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certfile is not None:
        password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        try:
            context.load_cert_chain(
                str(kafka.ssl_certfile),
                str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
                password,
            )
        except (OSError, ssl.SSLError) as exc:
            raise KafkaConfigError(
                f"{_VAR}SSL_CERTFILE={kafka.ssl_certfile} / {_VAR}SSL_KEYFILE="
                f"{kafka.ssl_keyfile}: cannot load the client certificate and key ({exc}); "
                f"check the paths and {_VAR}SSL_KEY_PASSWORD"
            ) from None
    return context


def sasl_password(kafka: KafkaSettings) -> str:
    """The SASL password, from the setting or, failing that, its file (trailing newline off)."""
    if kafka.sasl_password is not None:
        return kafka.sasl_password.get_secret_value()
    path = kafka.sasl_password_file
    try:
        return path.read_text().rstrip("\r\n") if path else ""
    except OSError as exc:
        raise KafkaConfigError(
            f"{_VAR}SASL_PASSWORD_FILE={path}: cannot read it ({exc.strerror})"
        ) from None


def token_provider(kafka: KafkaSettings) -> Any:
    """The OAUTHBEARER token provider named by ``sasl_oauth_token_provider``."""
    target = kafka.sasl_oauth_token_provider or ""
    module_name, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise KafkaConfigError(
            f"{_VAR}SASL_OAUTH_TOKEN_PROVIDER={target!r} cannot be imported ({exc}); give "
            "'package.module:name'"
        ) from None
    if isinstance(found, AbstractTokenProvider):
        return found
    provider = found()
    if not isinstance(provider, AbstractTokenProvider):
        raise KafkaConfigError(
            f"{_VAR}SASL_OAUTH_TOKEN_PROVIDER={target!r} gave {type(provider).__name__}, not an "
            "aiokafka.abc.AbstractTokenProvider"
        )
    return provider


class Diagnosis(str):
    """Why the connection fails, naming the setting to fix. ``unreachable``: no broker answered
    (down, or starting), as opposed to one that refused these settings."""

    unreachable: bool = False

    @classmethod
    def no_answer(cls, message: str) -> Diagnosis:
        found = cls(message)
        found.unreachable = True
        return found


async def diagnose(brokers: Brokers, *, timeout_s: float = 10.0) -> Diagnosis | None:
    """Why a client with these settings cannot log in to the first bootstrap broker, in terms of
    the settings to change; ``None`` when it can.

    aiokafka reports every failure to connect as "Unable to bootstrap" (the cause goes only to
    its log); this opens one connection the same way to say which it is: the password, the CA,
    the protocol, or the network.
    """
    kafka = settings_of(brokers)
    options = client_options(kafka)
    options.pop("bootstrap_servers")
    first = kafka.bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    where = f"Kafka at {first}"
    try:
        async with asyncio.timeout(timeout_s):
            conn = await create_conn(
                host, int(port), request_timeout_ms=int(timeout_s * 1000), **options
            )
        conn.close()
        return None
    except SaslAuthenticationFailed:
        return Diagnosis(
            f"{where} refused the login of {kafka.sasl_username!r} ({kafka.sasl_mechanism}): check "
            f"{_VAR}SASL_USERNAME and {_VAR}SASL_PASSWORD"
        )
    except ssl.SSLCertVerificationError as exc:
        if "hostname" in str(exc.verify_message) or "IP address mismatch" in str(
            exc.verify_message
        ):
            return Diagnosis(
                f"{where}: its certificate does not name {host} ({exc.verify_message}); connect by "
                f"a name it has, or set {_VAR}SSL_CHECK_HOSTNAME=false on a trusted network"
            )
        return Diagnosis(
            f"{where}: its certificate is not trusted ({exc.verify_message}); set {_VAR}SSL_CAFILE "
            "to the CA that signed it"
        )
    except ssl.SSLError as exc:
        return Diagnosis(
            f"{where}: the TLS handshake failed ({exc.reason}); is "
            f"{_VAR}SECURITY_PROTOCOL={kafka.security_protocol} what this listener speaks?"
        )
    except ConnectionResetError:
        return Diagnosis(
            f"{where} reset the connection; is {_VAR}SECURITY_PROTOCOL="
            f"{kafka.security_protocol} what this listener speaks?"
        )
    except (TimeoutError, OSError) as exc:
        return Diagnosis.no_answer(
            f"{where} did not answer ({type(exc).__name__}: {exc}); check {_VAR}BOOTSTRAP_SERVERS"
        )
    except KafkaConnectionError as exc:
        if kafka.ssl_certfile is not None:  # TLS 1.3: a refused certificate is a closed socket
            return Diagnosis(
                f"{where} closed the connection after the TLS handshake: it refused the client "
                f"certificate in {_VAR}SSL_CERTFILE ({kafka.ssl_certfile}); use one signed by a CA "
                "the broker trusts"
            )
        return _refused(where, exc, kafka)
    except KafkaError as exc:
        return _refused(where, exc, kafka)


def _refused(where: str, exc: KafkaError, kafka: KafkaSettings) -> Diagnosis:
    return Diagnosis(
        f"{where} refused the connection ({exc}); check {_VAR}SECURITY_PROTOCOL "
        f"({kafka.security_protocol}) and {_VAR}SASL_MECHANISM ({kafka.sasl_mechanism})"
    )


_GROUP_COORDINATOR = 0  # FindCoordinator's key type for a consumer group


async def access_problems(
    kafka: KafkaSettings, topics: list[str], group: str | None = None, *, timeout_s: float = 10.0
) -> list[str]:
    """The ACLs this principal visibly lacks: ``DESCRIBE`` on each of ``topics`` (a topic it may
    not describe is missing from the broker's metadata answer) and on ``group``. ``READ`` and
    ``WRITE`` cannot be asked without reading or writing; a principal with ``DESCRIBE`` but
    without them fails on its first fetch or send, naming the topic.

    Anything else that goes wrong here (a broker still starting, a coordinator not elected yet)
    says nothing about ACLs: the answer is then "nothing visibly missing", and Faust waits.
    """
    client = AIOKafkaClient(**client_options(kafka))
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the refusals are ours to word, once
    missing: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
            await client.set_topics(topics)
            refused = sorted(client.cluster.unauthorized_topics)
            missing = [f"DESCRIBE on topic {name}" for name in refused]
            if group is not None:
                await client.coordinator_lookup(_GROUP_COORDINATOR, group)
    except GroupAuthorizationFailedError:
        missing.append(f"DESCRIBE and READ on group {group}")
    except (KafkaError, TimeoutError, OSError):
        pass  # not about ACLs (see above): what was found so far stands
    finally:
        quiet.setLevel(level)
        await client.close()
    return missing


def refusal(exc: BaseException, brokers: Brokers) -> str | None:
    """``exc`` in terms of the ACL to grant, when it is the broker refusing this principal
    something mid-way (a fetch, a send, a group join); ``None`` for any other error."""
    kafka = settings_of(brokers)
    who = f"principal {kafka.sasl_username!r}" if kafka.sasl_username else "this principal"
    where = f"Kafka at {bootstrap_of(kafka)}"
    if isinstance(exc, TopicAuthorizationFailedError):
        named = ", ".join(str(arg) for arg in exc.args if arg) or "a topic it uses"
        return (
            f"{where} refused {who} access to {named}: grant the ACLs the README lists for this "
            "role (READ to consume, WRITE to produce, DESCRIBE on both)"
        )
    if isinstance(exc, GroupAuthorizationFailedError):
        return f"{where} refused {who} its consumer group: grant READ and DESCRIBE on the group"
    if isinstance(exc, ClusterAuthorizationFailedError):
        return (
            f"{where} refused {who} a producer id: it may write to no topic; grant WRITE and "
            "DESCRIBE on the topic this command writes to"
        )
    return None
