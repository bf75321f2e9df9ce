"""Bot credentials: resolved from a source of truth, cached encrypted in Redis and in process.

Integrations only ever call::

    creds = await credentials_resolver.get_default_for(bot_id=bot_id, provider="telegram",
                                                       strategy="api_key")

and get a fresh dict, or ``None`` when the bot has no such credentials. See
:class:`CredentialsResolver` for the layers, :mod:`.cache` for the Redis layout and
:mod:`.crypto` for the encryption key (``ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY``).
"""

from integrations.credentials.cache import CredentialsCache, CredentialsStats
from integrations.credentials.crypto import EntryCipher, generate_key
from integrations.credentials.errors import (
    CredentialsConfigError,
    CredentialsError,
    CredentialsSourceBrokenError,
    CredentialsSourceError,
    CredentialsUnavailableError,
)
from integrations.credentials.keys import CredentialsKey
from integrations.credentials.resolver import CredentialsRefresher, CredentialsResolver
from integrations.credentials.sources import (
    CredentialsSource,
    EnvCredentialsSource,
    FileCredentialsSource,
    HttpCredentialsSource,
    MemoryCredentialsSource,
    build_source,
)

__all__ = [
    "CredentialsCache",
    "CredentialsConfigError",
    "CredentialsError",
    "CredentialsKey",
    "CredentialsRefresher",
    "CredentialsResolver",
    "CredentialsSource",
    "CredentialsSourceBrokenError",
    "CredentialsSourceError",
    "CredentialsStats",
    "CredentialsUnavailableError",
    "EntryCipher",
    "EnvCredentialsSource",
    "FileCredentialsSource",
    "HttpCredentialsSource",
    "MemoryCredentialsSource",
    "build_source",
    "generate_key",
]
