"""The base of the Google fakes: Google's token endpoint, bearer checks and JSON errors, once.

A service's fake (``integrations/googledrive/testing.py``, ``integrations/googleclassroom/
testing.py``) subclasses :class:`FakeGoogle`, adds its routes after ``super().routes(app)`` and
starts each handler with ``token = self.bearer(request)`` (``None``: answer
:meth:`FakeGoogle.unauthenticated`). Shared, as Google does it:

- **the token endpoint** at :data:`TOKEN_PATH` (``POST /token``, Google's
  ``https://oauth2.googleapis.com/token``; tests set ``EndpointSettings(token_url=fake.url +
  TOKEN_PATH)``): a form body with ``grant_type=refresh_token``, ``refresh_token``,
  ``client_id`` and ``client_secret``. Success is ``{"access_token", "expires_in",
  "token_type": "Bearer", "scope"}`` without a new refresh token (Google does not rotate them);
  a wrong client is ``401 {"error": "invalid_client"}``, an unknown or revoked refresh token
  ``400 {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}``,
  another grant type ``400 unsupported_grant_type``. The state is the shared
  :class:`~integrations.credentials.testing.TokenGrants` (``grants``); ``refreshes`` counts the
  successes;
- **access tokens**: the static ``tokens`` given to the constructor never expire; one issued by
  :meth:`FakeGoogle.grant` or by a refresh dies ``token_lifetime_s`` after it was issued (the
  ``clock``, which tests move). An API call with no, an unknown or an expired token gets
  Google's real 401 (``UNAUTHENTICATED``, reason ``authError``, ``WWW-Authenticate: Bearer``);
- **errors** in Google's shape, ``{"error": {"code", "message", "status", "errors": [{"message",
  "domain", "reason"}]}}``: :meth:`FakeGoogle.google_error` builds one, and a bare
  ``fail_next(status)`` answers that shape with the status's usual reason (403 is the
  insufficient-scope one, 429 ``rateLimitExceeded``).

Seeding a grant::

    async with FakeGoogleDrive(token_lifetime_s=2) as fake:
        access = fake.grant("client-1", "secret-1", refresh_token="1//r1")  # expires in 2 s
        ...                       # the refresher posts to fake.url + TOKEN_PATH
        fake.refreshes            # how many tokens the endpoint issued
        fake.revoke()             # every later refresh: invalid_grant
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web

from integrations.credentials.testing import TokenGrants
from integrations.testing import BaseCall, BaseInjection, FakeServer, Queued

__all__ = ["TOKEN_PATH", "DelayedInjection", "FakeGoogle"]

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
"""Where the fake serves Google's token endpoint (``https://oauth2.googleapis.com/token``)."""

#: A bare ``fail_next(status)``: Google's status name, reason and message for it.
_SHAPES: dict[int, tuple[str, str, str]] = {
    400: ("INVALID_ARGUMENT", "badRequest", "Invalid value"),
    401: ("UNAUTHENTICATED", "authError", "Invalid Credentials"),
    403: ("PERMISSION_DENIED", "insufficientPermissions",
          "Request had insufficient authentication scopes."),
    404: ("NOT_FOUND", "notFound", "Requested entity was not found."),
    409: ("ALREADY_EXISTS", "duplicate", "Requested entity already exists."),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded"),
    500: ("INTERNAL", "backendError", "Internal Error"),
    503: ("UNAVAILABLE", "backendError", "The service is currently unavailable."),
}  # fmt: skip
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)

CallT = TypeVar("CallT", bound=BaseCall)
InjectionT = TypeVar("InjectionT", bound=Queued)
KindT = TypeVar("KindT", bound=str)


@dataclass(slots=True, kw_only=True)
class DelayedInjection(BaseInjection[KindT]):
    """A service fault for the next ``remaining`` calls; ``delay_s``: how late a
    "slow_answer" comes."""

    delay_s: float = 30.0


class FakeGoogle(FakeServer[CallT, InjectionT], Generic[CallT, InjectionT]):
    """A Google API fake with Google's token endpoint on the same loopback server.

    ``tokens``: static access tokens accepted forever (the contract's). ``token_lifetime_s``:
    how long an issued access token lives. ``scope``: what a refresh answers as granted.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[str] = (),
        token_lifetime_s: float = 3599.0,
        scope: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host=host, port=port)
        self.static_tokens = set(tokens)
        self.scope = scope
        #: The token endpoint's state (shared with every OAuth fake): grants, issued tokens.
        self.grants = TokenGrants(lifetime_s=token_lifetime_s, clock=clock)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(TOKEN_PATH, self._token)

    # -- grants and tokens -----------------------------------------------------------------------

    def grant(
        self,
        client_id: str,
        client_secret: str,
        *,
        refresh_token: str,
        access_token: str | None = None,
        expires_in: float | None = None,
    ) -> str:
        """Honour ``refresh_token`` for this client; returns an access token issued with it
        (``access_token`` if given), valid ``expires_in`` seconds (default: the lifetime)."""
        token = access_token or "ya29.fake-" + secrets.token_urlsafe(24)
        self.grants.grant(
            client_id, client_secret, refresh_token=refresh_token, access_token=token,
            expires_in=expires_in,
        )  # fmt: skip
        return token

    def revoke(self) -> None:
        """Every grant is revoked: later refreshes get ``invalid_grant``."""
        self.grants.revoke()

    @property
    def refreshes(self) -> int:
        """How many access tokens the token endpoint issued for a refresh token."""
        return self.grants.refreshes

    def valid(self, token: str | None) -> bool:
        """Whether the API accepts ``token`` now (static, or issued and unexpired)."""
        return bool(token) and (token in self.static_tokens or self.grants.valid(token))

    def bearer(self, request: web.Request) -> str | None:
        """The request's access token if it is currently valid, else ``None``."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        return token if self.valid(token) else None

    @staticmethod
    def caller(request: web.Request) -> tuple[str | None, dict[str, str]]:
        """The bearer token a request carries (valid or not), and all its headers."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        return token or None, dict(request.headers)

    @staticmethod
    def answered(call: CallT, response: web.Response) -> web.Response:
        """``response``, its status noted on ``call``."""
        call.status = response.status
        return response

    # -- answers ---------------------------------------------------------------------------------

    @staticmethod
    def google_error(
        status: int,
        reason: str,
        message: str,
        *,
        status_name: str | None = None,
        headers: dict[str, str] | None = None,
        error_info: str | None = None,
    ) -> web.Response:
        """Google's error answer: ``{"error": {"code", "message", "status", "errors"}}``;
        with ``error_info``, the newer APIs' shape instead (Classroom's): no ``errors``, a
        ``google.rpc.ErrorInfo`` detail carrying that reason."""
        name = status_name or _SHAPES.get(status, ("UNKNOWN", "", ""))[0]
        error: dict[str, Any] = {"code": status, "message": message, "status": name}
        if error_info is None:
            error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
        else:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": error_info,
                    "domain": "googleapis.com",
                }
            ]
        return web.json_response({"error": error}, status=status, headers=headers)

    def unauthenticated(self) -> web.Response:
        """Google's 401 for a missing, unknown or expired access token."""
        return self.google_error(
            401, "authError", _UNAUTHENTICATED,
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )  # fmt: skip

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """A bare fault in Google's shape, with the status's usual reason (see ``_SHAPES``)."""
        if status == 401:
            return self.unauthenticated()
        name, reason, text = _SHAPES.get(status, ("UNKNOWN", "unknown", message))
        return self.google_error(
            status, reason, text, status_name=name, headers=self.retry_after(retry_after_s)
        )

    # -- the token endpoint ----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        status, body = self.grants.answer(form)  # Google: the client in the body, never Basic
        if status == 200:
            body["token_type"] = "Bearer"  # noqa: S105 - Google's capitalisation, not a secret
            if self.scope:
                body["scope"] = self.scope
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
