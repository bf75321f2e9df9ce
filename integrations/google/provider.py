"""Google's OAuth token endpoint and how Google's JSON APIs answer errors, once for all of them.

**Token endpoint** (:data:`GOOGLE_TOKEN`): ``POST https://oauth2.googleapis.com/token``, a form
body (``application/x-www-form-urlencoded``) with ``grant_type=refresh_token``, ``refresh_token``,
``client_id`` and ``client_secret`` in the body. The answer is ``{"access_token", "expires_in"
(about 3600), "token_type": "Bearer", "scope"}``; Google does not rotate refresh tokens (the
answer carries none, and the old one keeps working), and a dead grant (revoked, unused for six
months, a "Testing" consent screen's seven days, the 101st token of one account and client) is
``400 {"error": "invalid_grant", "error_description": ...}``.

**Errors** of the JSON APIs (Drive's "Resolve errors" guide, Classroom's error pages)::

    {"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED",
               "errors": [{"message": "...", "domain": "global", "reason": "..."}]}}

``detail.code`` is the first ``errors[].reason`` (else ``status``); ``parameters`` carry
``google_status`` and ``google_reason``. What the seam's status table would get wrong:

=============================================  ====================  ===========================
Google answer                                  our error (code)      why
=============================================  ====================  ===========================
401 (``UNAUTHENTICATED``, ``authError``)       AuthError (401)       the access token expired or
                                                                     was revoked: the resolver
                                                                     refreshes it and asks again
403 ``userRateLimitExceeded`` /                RateLimitedError      a per-user / per-project
``rateLimitExceeded``                          (no wait)             quota: Google sends no
                                                                     Retry-After, so the
                                                                     processor backs off
403 ``insufficientPermissions`` /              AuthError (403)       the grant lacks the scope:
``ACCESS_TOKEN_SCOPE_INSUFFICIENT``                                  the message names it, the
                                                                     owner must authorise again
other 403 (``forbidden``,                      PermanentError (403)  this account may not touch
``insufficientFilePermissions``,                                     that file / course; a new
``appNotAuthorizedToFile``,                                          token changes nothing
``storageQuotaExceeded``, ``PERMISSION_DENIED``)
400 ``INVALID_ARGUMENT`` / ``badRequest`` /    InvalidConfigError    a value the config gave
``invalid``                                    (400)
429, 404, 409, 5xx                             by status             429 rate_limited (its
                                                                     Retry-After if any), 404 /
                                                                     409 permanent, 503
                                                                     transient, other 5xx
                                                                     outcome-unknown when writing
=============================================  ====================  ===========================

An answer without Google's ``error`` object (a proxy's page) goes by status.

**Verified** (search tool, 2026-12): developers.google.com/drive/api/guides/limits ("403: User
rate limit exceeded", also "429", "use an exponential backoff"; no Retry-After mentioned);
developers.google.com/drive/api/guides/handle-errors (the JSON shape with ``errors[].reason``,
``domain``); the token endpoint, form body and ``grant_type=refresh_token`` with
``client_id``/``client_secret`` (Google's web-server OAuth guide as linked and quoted by
cedricsam/utilities and the STT-Hololens issue #40); refresh tokens not rotated, the 100-token cap
and the Testing-mode expiry (``../shared/notes/wave2-apis.md``, agreeing with
developers.google.com/identity/protocols/oauth2 "refresh token expiration"). **Not verified**
against a live answer: the exact 401 message text and the ``ErrorInfo`` detail of a scope error
(both modelled from Google's published examples in the fakes).
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from integrations.credentials.fields import SecretField
from integrations.credentials.oauth import TokenEndpoint
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s

__all__ = ["GOOGLE_TOKEN", "GOOGLE_TOKEN_URL", "RATE_LIMIT_REASONS", "GoogleApi", "access_token"]

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
GOOGLE_TOKEN = TokenEndpoint(url=GOOGLE_TOKEN_URL)
"""Form body, client id and secret in it, refresh tokens not rotated, ``invalid_grant`` dead."""


def access_token(service: str) -> SecretField:
    """Where a Google service's actions read the bot's OAuth access token: the
    ``access_token`` of its ``<service>`` credentials (strategy ``oauth``)."""
    return SecretField(
        provider=service, fields=("access_token",), strategy="oauth",
        example='{"access_token": "ya29.…", "refresh_token": "1//…", "client_id": "…", '
        '"client_secret": "…"}',
    )  # fmt: skip


#: 403 reasons that mean "slow down", not "forbidden".
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_CONFIG_REASONS = frozenset({"INVALID_ARGUMENT", "badRequest", "invalid", "invalidParameter"})
_MAX_FIELD = 64
_MAX_MESSAGE = 300


class GoogleApi(Provider):
    """A Google JSON API's answers (see the module's table); a success is a JSON object.

    A service subclasses it with its ``name`` and the OAuth ``scope`` its actions need, which
    a scope error names.
    """

    name = "Google"
    scope: ClassVar[str] = ""

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not response.is_success or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return super().detail(response, data)
        status = _text(error.get("status"))
        errors = _list(error.get("errors"))
        reasons = [_text(e.get("reason")) for e in errors if isinstance(e, dict)]
        reasons += [
            _text(d.get("reason"))
            for d in _list(error.get("details"))
            if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")
        ]
        known = [r for r in reasons if r]
        reason = next((r for r in known if r in _SCOPE_REASONS | RATE_LIMIT_REASONS), None)
        reason = reason or (known[0] if known else None)
        message = _text(error.get("message"))
        parameters = {
            key: value
            for key, value in (("google_status", status), ("google_reason", reason))
            if value is not None
        }
        return ErrorDetail(
            code=reason or status,
            message=message[:_MAX_MESSAGE] if message else None,
            retry_after_s=retry_after_s(response.headers),
            parameters=parameters,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        reason = detail.parameters.get("google_reason")
        grpc = detail.parameters.get("google_status")
        if reason is None and grpc is None:
            return None  # not Google's error object: by status
        text = detail.message or response.reason_phrase or "no message"
        label = f"HTTP {status}" + (f" {detail.code}" if detail.code else "")
        params = dict(detail.parameters)

        def said(hint: str = "") -> str:
            return call.message(f"{text}{hint}", label=label)

        if status == 401:
            hint = "; the access token is expired or revoked (it is refreshed once)"
            return AuthError(said(hint), code=401, parameters=params)
        if status == 403 and reason in RATE_LIMIT_REASONS:
            return RateLimitedError(
                said("; Google's quota: back off"), retry_after_s=detail.retry_after_s,
                parameters=params,
            )  # fmt: skip
        if status == 403 and reason in _SCOPE_REASONS:
            hint = (
                f"; the bot's Google grant lacks the scope {self.scope}: its owner must "
                "authorise the app again with it"
            )
            return AuthError(said(hint), code=403, parameters=params)
        if status == 403:
            return PermanentError(said(), code=403, parameters=params)
        if status == 400 and (reason in _CONFIG_REASONS or grpc in _CONFIG_REASONS):
            return InvalidConfigError(said("; fix the action's config"), parameters=params)
        return None


def _text(value: object) -> str | None:
    return value[:_MAX_FIELD] if isinstance(value, str) and value else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
