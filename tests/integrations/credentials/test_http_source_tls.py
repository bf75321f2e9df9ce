"""The HTTP credentials source over TLS with the platform's own CA, its token from a file."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from integrations.credentials import CredentialsConfigError, build_source
from integrations.credentials.errors import CredentialsSourceError
from integrations.credentials.settings import CredentialsSettings
from integrations.tls import TlsConfigError
from support.tls import LocalCA


def server_context(ca: LocalCA) -> ssl.SSLContext:
    issued = ca.issue("credentials-api", hosts=("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    return context


async def test_https_with_a_private_ca_and_a_token_file(
    platform_api,
    api_token: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    ca = LocalCA(tmp_path)
    await platform_api.stop()
    await platform_api.start(server_context(ca))
    platform_api.data[("bot-1", "telegram", "api_key")] = {"token": "123:abc"}
    token_file = tmp_path / "token"
    token_file.write_text(api_token + "\n")
    settings = CredentialsSettings(
        source="http", http_url=platform_api.base_url, http_token_file=token_file,
        http_ca_file=ca.pem,
    )  # fmt: skip
    assert platform_api.base_url.startswith("https://")
    source = build_source(settings)
    try:
        assert await source.fetch("bot-1", "telegram", "api_key") == {"token": "123:abc"}
    finally:
        await source.aclose()

    # Without the platform's CA the system store does not trust it: an error, never a fallback.
    untrusted = build_source(settings.model_copy(update={"http_ca_file": None}))
    try:
        with pytest.raises(CredentialsSourceError, match="credentials API"):
            await untrusted.fetch("bot-1", "telegram", "api_key")
    finally:
        await untrusted.aclose()


def test_unusable_tls_and_token_files_name_their_variable(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    base = {"source": "http", "http_url": "https://api.internal/credentials"}
    with pytest.raises(TlsConfigError, match="ACTIONSTREAM_CREDENTIALS__HTTP_CA_FILE="):
        build_source(CredentialsSettings(**base, http_token="t", http_ca_file=junk))
    with pytest.raises(CredentialsConfigError, match="HTTP_TOKEN_FILE=/no/such/token"):
        build_source(CredentialsSettings(**base, http_token_file=Path("/no/such/token")))
