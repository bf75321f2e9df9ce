"""An OAuth 2 token endpoint for fakes: issues, rotates, expires and revokes tokens, and counts.

A service's fake routes its token path to :meth:`TokenGrants.answer` and checks API calls with
:meth:`TokenGrants.valid`::

    grants = TokenGrants(lifetime_s=3600, rotate=True)       # AmoCRM-like: single-use refresh
    grants.grant("client-id", "client-secret", refresh_token="r0")
    status, body = grants.answer(form, basic=None)           # {"access_token", "expires_in", ...}
    grants.refreshes, grants.reused                          # what the refresher did

Answers follow RFC 6749 §5: ``{"access_token", "token_type", "expires_in", "refresh_token"?}``,
or 400 ``{"error": "invalid_grant" | "invalid_client" | "unsupported_grant_type", ...}``.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grant", "TokenGrants", "basic_auth"]


@dataclass(slots=True)
class Grant:
    """One authorisation: the app that holds it and its current refresh token."""

    client_id: str
    client_secret: str
    refresh_token: str | None
    revoked: bool = False


@dataclass
class TokenGrants:
    """Token endpoint state for one fake (see the module docstring).

    ``lifetime_s``: how long issued access tokens live. ``rotate``: each refresh token works
    once and the answer carries its successor. ``clock``: what "now" is (tests move it).
    """

    lifetime_s: float = 3600.0
    rotate: bool = False
    clock: Callable[[], float] = time.time
    refreshes: int = 0  # successful refresh_token grants
    mints: int = 0  # successful client_credentials grants
    reused: int = 0  # refresh tokens presented again after rotation (a bricking bug)
    refused: int = 0
    grants: list[Grant] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    _spent: set[str] = field(default_factory=set)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def grant(
        self,
        client_id: str,
        client_secret: str,
        *,
        refresh_token: str | None = None,
        access_token: str | None = None,
        expires_in: float | None = None,
    ) -> Grant:
        """Authorise an app (a bot's owner clicked "allow"); optionally with a live token."""
        found = Grant(client_id, client_secret, refresh_token)
        self.grants.append(found)
        if access_token is not None:
            self._tokens[access_token] = self.clock() + (expires_in or self.lifetime_s)
        return found

    def revoke(self) -> None:
        """Every grant is gone: refreshes answer ``invalid_grant`` from now on."""
        for found in self.grants:
            found.revoked = True

    def issued(self, access_token: str | None) -> bool:
        """Whether ``access_token`` was issued here (expired or not)."""
        return (access_token or "") in self._tokens

    def valid(self, access_token: str | None) -> bool:
        """Whether an API call with ``access_token`` is authorised now."""
        expiry = self._tokens.get(access_token or "")
        return expiry is not None and expiry > self.clock()

    def answer(
        self, form: Mapping[str, Any], *, basic: tuple[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one token request (``basic``: HTTP Basic client auth)."""
        client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
        apps = [
            g for g in self.grants if (g.client_id, g.client_secret) == (client_id, client_secret)
        ]
        if not apps:
            return self._refuse(401, "invalid_client", "Client authentication failed")
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            self.mints += 1
            return 200, self._issue(None)
        if grant_type != "refresh_token":
            return self._refuse(400, "unsupported_grant_type", f"grant_type {grant_type!r}")
        presented = form.get("refresh_token")
        if presented in self._spent:
            self.reused += 1
            return self._refuse(400, "invalid_grant", "Refresh token has been used")
        found = next((g for g in apps if g.refresh_token == presented), None)
        if found is None or found.revoked:
            return self._refuse(400, "invalid_grant", "Token has been expired or revoked.")
        self.refreshes += 1
        if self.rotate:
            self._spent.add(str(presented))
            found.refresh_token = f"rt-{next(self._serial)}-{secrets.token_hex(8)}"
        return 200, self._issue(found.refresh_token if self.rotate else None)

    def _issue(self, refresh_token: str | None) -> dict[str, Any]:
        token = f"at-{next(self._serial)}-{secrets.token_hex(8)}"
        self._tokens[token] = self.clock() + self.lifetime_s
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.lifetime_s),
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return body

    def _refuse(self, status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
        self.refused += 1
        return status, {"error": error, "error_description": description}


def basic_auth(request: Any) -> tuple[str, str] | None:
    """The ``(user, password)`` of an aiohttp request's HTTP Basic ``Authorization``, if any."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password
