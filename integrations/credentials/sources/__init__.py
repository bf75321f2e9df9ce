"""Sources of truth for bot credentials, and :func:`build_source` to pick one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.credentials.errors import CredentialsConfigError
from integrations.credentials.sources.base import CredentialsSource
from integrations.credentials.sources.env import EnvCredentialsSource
from integrations.credentials.sources.file import FileCredentialsSource
from integrations.credentials.sources.http import HttpCredentialsSource
from integrations.credentials.sources.memory import MemoryCredentialsSource

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
    if settings.http_token is None or not settings.http_token.get_secret_value():
        raise CredentialsConfigError(
            "ACTIONSTREAM_CREDENTIALS__SOURCE=http needs the platform's service token in "
            "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN"
        )
    return HttpCredentialsSource(
        settings.http_url, settings.http_token, timeout_s=settings.http_timeout_s
    )
