"""One connection model for every Kafka client: settings to aiokafka options, and clear refusals."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from aiokafka.abc import AbstractTokenProvider
from pydantic import SecretStr

from processors.app import broker_credentials
from support.tls import LocalCA
from topics.connection import KafkaConfigError, client_options
from topics.settings import KafkaSettings


class StaticToken(AbstractTokenProvider):
    async def token(self) -> str:
        return "a-token"


PROVIDER = StaticToken()


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path)


def test_a_bare_address_is_plaintext() -> None:
    assert client_options("127.0.0.1:9092") == {
        "bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT",
    }  # fmt: skip
    assert broker_credentials(KafkaSettings()) is None


def test_sasl_ssl_with_scram_gives_every_client_the_same_options(ca: LocalCA) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="broker:9094", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="worker",
        sasl_password=SecretStr("s3cret"), ssl_cafile=ca.pem,
    )  # fmt: skip
    options = client_options(kafka)
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == (
        "SCRAM-SHA-512",
        "worker",
    )
    assert options["sasl_plain_password"] == "s3cret"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "actionstream test CA"),),)
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (
        credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    )
    assert (credentials.username, credentials.password) == ("worker", "s3cret")


def test_the_password_can_come_from_a_mounted_secret(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
        sasl_password_file=secret,
    )  # fmt: skip
    assert client_options(kafka)["sasl_plain_password"] == "from-a-file"
    assert "ssl_context" not in client_options(kafka)


def test_mtls_loads_the_client_certificate(ca: LocalCA) -> None:
    client = ca.issue("worker", password=b"key-pass")
    kafka = KafkaSettings(
        security_protocol="SSL", ssl_cafile=ca.pem, ssl_certfile=client.cert,
        ssl_keyfile=client.key, ssl_key_password=SecretStr("key-pass"), ssl_check_hostname=False,
    )  # fmt: skip
    options = client_options(kafka)
    assert options["security_protocol"] == "SSL" and not options["ssl_context"].check_hostname
    assert isinstance(broker_credentials(kafka), faust.SSLCredentials)


def test_oauthbearer_takes_a_token_provider_by_import_path() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=f"{__name__}:PROVIDER",
    )  # fmt: skip
    assert client_options(kafka)["sasl_oauth_token_provider"] is PROVIDER
    factory = kafka.model_copy(update={"sasl_oauth_token_provider": f"{__name__}:StaticToken"})
    assert isinstance(client_options(factory)["sasl_oauth_token_provider"], StaticToken)
    assert isinstance(broker_credentials(kafka), faust.OAuthCredentials)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs ACTIONSTREAM_KAFKA__SASL_MECHANISM"),
        ({"sasl_mechanism": "PLAIN"}, "has no SASL"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256"},
         "needs ACTIONSTREAM_KAFKA__SASL_USERNAME"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u"},
         "needs ACTIONSTREAM_KAFKA__SASL_PASSWORD or ACTIONSTREAM_KAFKA__SASL_PASSWORD_FILE"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
         "needs ACTIONSTREAM_KAFKA__SASL_OAUTH_TOKEN_PROVIDER"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER",
          "sasl_oauth_token_provider": "no.such.module:x"}, "cannot be imported"),
        ({"ssl_cafile": "/ca.pem"}, "ACTIONSTREAM_KAFKA__SSL_CAFILE is set but"),
        ({"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"},
         "ACTIONSTREAM_KAFKA__SSL_CAFILE=/no/such/ca.pem: cannot load it"),
        ({"security_protocol": "SSL", "ssl_certfile": "/no/cert.pem"},
         "ACTIONSTREAM_KAFKA__SSL_CERTFILE=/no/cert.pem"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u",
          "sasl_password_file": "/no/such/secret"}, "SASL_PASSWORD_FILE=/no/such/secret"),
    ],
    ids=["no-mechanism", "mechanism-without-sasl", "no-username", "no-password", "no-provider",
         "bad-provider", "tls-file-without-tls", "missing-ca", "missing-cert", "missing-secret"],
)  # fmt: skip
def test_settings_that_cannot_work_name_the_variable(
    settings: dict[str, object], words: str
) -> None:
    with pytest.raises(KafkaConfigError, match=words.replace(".", r"\.")):
        client_options(KafkaSettings.model_validate(settings))


def test_an_untrusted_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(KafkaConfigError, match="cannot load it as PEM"):
        client_options(KafkaSettings(security_protocol="SSL", ssl_cafile=junk))
