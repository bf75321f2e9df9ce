"""Settings of the credentials resolver and its sources (``ACTIONSTREAM_CREDENTIALS__…``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class CredentialsSettings(BaseModel):
    """Where bot credentials come from and how they are cached (see ``integrations.credentials``).

    ``encryption_key`` (``ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY``) is 32 random bytes in urlsafe
    base64, the same on every worker; generate one with
    ``python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``.
    Without it the worker refuses to start unless ``dev_mode`` is on.
    """

    source: Literal["file", "env", "http"] = "file"
    file_path: Path = Path("credentials.json")
    http_url: str = "http://127.0.0.1:8000/internal/credentials"
    http_token: SecretStr | None = None
    http_token_file: Path | None = Field(
        default=None, description="read the service token from this file (a mounted Secret)"
    )
    http_ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) that signed the credentials API's certificate"
    )
    http_timeout_s: float = 5.0
    encryption_key: SecretStr | None = None
    cache_ttl_s: int = Field(default=300, ge=1)
    negative_ttl_s: int = Field(default=15, ge=1)
    local_ttl_s: float = Field(default=5.0, ge=0)
    local_max_entries: int = Field(default=10_000, ge=1)
    # After a Redis failure, skip Redis (straight to the source) this long instead of paying a
    # connect timeout on every action.
    redis_backoff_s: float = Field(default=1.0, ge=0)
    # With an OAuth refresher configured, renew credentials whose expires_at is this close.
    refresh_margin_s: float = Field(default=60.0, ge=0)
