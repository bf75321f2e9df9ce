"""Sources of truth for bot credentials, and :func:`build_source` to pick one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from integrations.credentials.errors import CredentialsConfigError
from integrations.credentials.sources.base import CredentialsSource
from integrations.credentials.sources.env import EnvCredentialsSource
from integrations.credentials.sources.file import FileCredentialsSource
from integrations.credentials.sources.http import HttpCredentialsSource
from integrations.credentials.sources.memory import MemoryCredentialsSource
from integrations.tls import tls_verification

if TYPE_CHECKING:
    from integrations.credentials.settings import CredentialsSettings

__all__ = [
    "CredentialsSource",
    "EnvCredentialsSource",
    "FileCredentialsSource",
    "HttpCredentialsSource",
    "MemoryCredentialsSource",
    "build_source",
]


def build_source(settings: CredentialsSettings) -> CredentialsSource:
    """The source ``ACTIONSTREAM_CREDENTIALS__SOURCE`` names, configured from the same settings."""
    if settings.source == "file":
        return FileCredentialsSource(settings.file_path)
    if settings.source == "env":
        return EnvCredentialsSource()
    token = settings.http_token
    if (token is None or not token.get_secret_value()) and settings.http_token_file is not None:
        try:
            token = SecretStr(settings.http_token_file.read_text().strip())
        except OSError as exc:
            raise CredentialsConfigError(
                f"ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN_FILE={settings.http_token_file}: cannot "
                f"read it ({exc.strerror})"
            ) from None
    if token is None or not token.get_secret_value():
        raise CredentialsConfigError(
            "ACTIONSTREAM_CREDENTIALS__SOURCE=http needs the platform's service token in "
            "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN (or ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN_FILE)"
        )
    verify = tls_verification(settings.http_ca_file, "ACTIONSTREAM_CREDENTIALS__HTTP_CA_FILE")
    return HttpCredentialsSource(
        settings.http_url, token, timeout_s=settings.http_timeout_s, verify=verify
    )
