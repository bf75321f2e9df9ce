"""How each OAuth provider issues access tokens: what the refresher posts, where, and what it reads.

A service whose credentials strategy is ``oauth`` declares its provider's token endpoint once,
beside its :class:`~integrations.service.Service`, and registers it on import::

    GOOGLE_TOKEN = TokenEndpoint(url="https://oauth2.googleapis.com/token")
    register_token_endpoint("googledrive", GOOGLE_TOKEN)

Its actions then read only the ``access_token`` (a :class:`~integrations.credentials.fields.
SecretField` with ``strategy="oauth"``): renewing it, before expiry or after the provider's 401,
is the credentials resolver's job (:mod:`integrations.credentials.refresh`), never the action's.

**What a bot stores** under ``<provider>/oauth`` (:data:`FIELDS`):

=================  ============================================================================
``access_token``   the current token (absent for client credentials until one is minted)
``refresh_token``  for the ``refresh_token`` grant; replaced whenever an answer carries a new one
``expires_at``     Unix seconds or ISO-8601: when ``access_token`` dies (from ``expires_in``)
``client_id``      the platform's OAuth app at this provider (or PayPal's REST app)
``client_secret``  its secret
``version``        a counter the source of truth compares and sets on write-back
=================  ============================================================================

plus whatever :attr:`TokenEndpoint.carried` names (AmoCRM's ``redirect_uri``) and what the
service itself needs (AmoCRM's account URL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FIELDS",
    "Grant",
    "TokenEndpoint",
    "register_token_endpoint",
    "token_endpoint",
    "token_endpoints",
]

Grant = Literal["refresh_token", "client_credentials"]

FIELDS = ("access_token", "refresh_token", "expires_at", "client_id", "client_secret", "version")
"""The fields of stored OAuth credentials that the refresher reads or writes."""


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    """A provider's token endpoint and its manners.

    ``url`` is the production endpoint; ``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__<SERVICE>__
    TOKEN_URL`` moves it (tests point it at the service's fake). ``url_from`` builds it from the
    bot's credentials instead, for providers whose endpoint is per account (AmoCRM's subdomain);
    such a URL is the tenant's, so it is reached through the egress policy.
    """

    url: str
    grant: Grant = "refresh_token"
    body: Literal["form", "json"] = "form"  # AmoCRM wants JSON; the others a form
    client_auth: Literal["body", "basic"] = "body"  # PayPal: HTTP Basic client_id:client_secret
    rotates_refresh_token: bool = False  # AmoCRM: each refresh token works once
    url_from: Callable[[Mapping[str, Any]], str] | None = None
    carried: tuple[str, ...] = ()  # credential fields sent along (AmoCRM: redirect_uri)
    reauthorise: tuple[str, ...] = ("invalid_grant",)
    """What a token answer's ``error`` (or HubSpot's ``status``, AmoCRM's ``hint``) says when the
    grant is gone: the bot's owner must authorise again (terminal, never retried)."""

    def url_for(self, credentials: Mapping[str, Any], override: str | None = None) -> str:
        """Where to ask for a token for these credentials."""
        if self.url_from is not None:
            return self.url_from(credentials)
        return override or self.url


_ENDPOINTS: dict[str, TokenEndpoint] = {}


def register_token_endpoint(provider: str, endpoint: TokenEndpoint) -> None:
    """Declare ``provider``'s token endpoint (idempotent for the same declaration)."""
    known = _ENDPOINTS.get(provider)
    if known is not None and known != endpoint:
        raise ValueError(f"a different token endpoint is already registered for {provider!r}")
    _ENDPOINTS[provider] = endpoint


def token_endpoint(provider: str) -> TokenEndpoint | None:
    """``provider``'s token endpoint, or ``None`` when its credentials do not renew."""
    return _ENDPOINTS.get(provider)


def token_endpoints() -> dict[str, TokenEndpoint]:
    """Every registered token endpoint, by provider."""
    return dict(_ENDPOINTS)
