"""TLS verification for the services actionstream itself calls over HTTPS (not providers)."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["TlsConfigError", "tls_verification"]


class TlsConfigError(ValueError):
    """A CA setting that cannot be loaded; the message names the variable."""


def tls_verification(ca_file: Path | None, variable: str) -> ssl.SSLContext | bool:
    """What httpx verifies a server with (``verify=``): the system CAs, or the PEM bundle
    ``ca_file`` (the setting ``variable`` names, for the error message)."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"{variable}={ca_file}: cannot load it as PEM CA certificates ({exc}); point it at "
            "the CA bundle that signed the server's certificate"
        ) from None
