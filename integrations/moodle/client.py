"""What Moodle web-service actions share: the site credentials, the REST call, the error mapping.

**The wire** (external-apis.md §8.3): ``POST <site>/webservice/rest/server.php``, form-encoded,
``wstoken`` + ``wsfunction`` + ``moodlewsrestformat=json`` + the function's arguments in PHP
array notation (``messages[0][touserid]=5``). Every value goes in the body, none in the URL, so
the token never appears in a request line or an access log. The site differs per bot, so the
URL comes from the credentials: ``{"site_url": "https://lms.example.edu", "token": "..."}``.

**Errors come inside HTTP 200**: ``{"exception", "errorcode", "message", "debuginfo"?}``.
:func:`raise_for_exception` decides by ``errorcode``:

==========================================  ======================  ===========================
errorcode                                   our error (code)        why
==========================================  ======================  ===========================
invalidtoken, invalidtimedtoken,            AuthError (401)         unknown, expired or
invalidiptoken, wsaccessuser*                                       IP-restricted token / user
accessexception, nopermissions,             AuthError (403)         **decided**: the token's
webservice_access_exception                                         service lacks the function,
                                                                    or its user lacks the
                                                                    capability; another token
                                                                    (credentials) fixes it
invalidparameter                            InvalidConfigError      our arguments were refused
disabled, servicenotavailable, other        PermanentError (400)    site configuration
sitemaintenance, dml*exception              TransientError (503)    maintenance, DB hiccup
==========================================  ======================  ===========================

Outside the JSON envelope: connect failures → transient (not sent); read timeouts, dropped
connections and gateway 502/504 → :class:`OutcomeUnknownError` (the message may have been sent);
other 5xx → transient; 429 (a proxy) → rate limited with ``Retry-After``;
403 without JSON (web services or REST disabled) and other statuses → permanent; a 200 that is
not JSON (a login page: wrong ``site_url``) → permanent. ``debuginfo`` is only passed on for
``invalidparameter``, where it names the offending argument.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.errors import (
    AuthError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpIntegration

__all__ = ["REST_PATH", "MoodleIntegration", "MoodleSite", "raise_for_exception"]

REST_PATH = "/webservice/rest/server.php"
_AUTH_CODES = frozenset({"invalidtoken", "invalidtimedtoken", "invalidiptoken"})
_ACCESS_CODES = frozenset({"accessexception", "nopermissions", "webservice_access_exception"})
_TRANSIENT_CODES = frozenset({"sitemaintenance", "dmlreadexception", "dmlwriteexception"})
_MAX_TEXT_CHARS = 300
# Failures that prove the request never reached the site.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def raise_for_exception(body: Any, *, function: str, token: str = "") -> None:
    """Raise our typed error if ``body`` is Moodle's exception envelope; else return."""
    if not (isinstance(body, dict) and "exception" in body and "errorcode" in body):
        return
    code = str(body.get("errorcode") or "")
    message = _clip(_scrub(str(body.get("message") or ""), token))
    where = f"Moodle {function}: {code}"
    said = f" ({message})" if message else ""
    if code in _AUTH_CODES or code.startswith("wsaccessuser"):
        raise AuthError(f"{where}{said}; check this bot's 'moodle' token")
    if code in _ACCESS_CODES:
        raise AuthError(
            f"{where}{said}; add {function} to the token's external service and give its user "
            "the capability (e.g. moodle/site:sendmessage)",
            code=403,
        )
    if code == "invalidparameter":
        debug = body.get("debuginfo")
        extra = f": {_clip(_scrub(str(debug), token))}" if debug else ""
        raise InvalidConfigError(f"{where}{said}{extra}")
    if code in _TRANSIENT_CODES or code.startswith("dml"):
        raise TransientError(f"{where}{said}")
    raise PermanentError(f"{where}{said}")


def _scrub(text: str, token: str) -> str:
    return redact_text(text, SecretSet([token]) if token else None)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT_CHARS else text[: _MAX_TEXT_CHARS - 3] + "..."


class MoodleSite:
    """A bot's Moodle site: its base URL and web-service token (from the credentials)."""

    __slots__ = ("token", "url")

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    @property
    def rest_url(self) -> str:
        return self.url + REST_PATH

    @classmethod
    def from_credentials(cls, creds: dict[str, Any]) -> MoodleSite:
        """Validate ``{"site_url", "token"}``; AuthError naming what is wrong otherwise."""
        url, token = creds.get("site_url"), creds.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                "the bot's 'moodle' credentials have no 'token'; store them as "
                '{"site_url": "https://lms.example.edu", "token": "<web service token>"}'
            )
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise AuthError(
                f"the bot's 'moodle' credentials have no valid 'site_url' (got {url!r}); use the "
                "site's base URL, e.g. https://lms.example.edu"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise AuthError(
                "the bot's 'moodle' site_url must be a plain base URL, without query, fragment "
                "or user info"
            )
        return cls(f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", token)


class MoodleIntegration(HttpIntegration):
    """Base of the Moodle actions: the ``moodle`` credentials and one web-service call.

    The shared HTTP client is per service, not per site: each call uses the site's absolute URL
    (connections are pooled per host anyway).
    """

    service: ClassVar[str] = "moodle"
    default_base_url: ClassVar[str] = ""  # every call uses the absolute URL of the bot's site
    http_timeout_s: ClassVar[float] = 20.0

    async def site(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> MoodleSite | None:
        """The bot's Moodle site, or ``None`` when it has no ``moodle`` credentials."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="moodle", strategy="api_key")
        if not creds:
            return None
        site = MoodleSite.from_credentials(creds)
        logger.add_secret(site.token)
        return site

    async def call(self, site: MoodleSite, function: str, args: dict[str, str]) -> Any:
        """Run ``function`` with PHP-array ``args``; its JSON result, or our typed error."""
        form = {
            "wstoken": site.token,
            "wsfunction": function,
            "moodlewsrestformat": "json",
            **args,
        }
        where = f"Moodle {function}"
        try:
            response = await self.http.post(site.rest_url, data=form)
        except _NOT_SENT as exc:
            raise TransientError(f"{where}: not sent ({type(exc).__name__})") from None
        except httpx.TransportError as exc:  # read/write timeout, connection lost mid-request
            raise OutcomeUnknownError(
                f"{where}: no answer from the site ({type(exc).__name__}); it may have run",
            ) from None
        return _parse(response, function=function, token=site.token)


def _parse(response: httpx.Response, *, function: str, token: str) -> Any:
    where = f"Moodle {function}"
    code = response.status_code
    if code in (502, 504):  # a proxy gave up waiting: the site may have run the call
        raise OutcomeUnknownError(
            f"{where}: HTTP {code} from a gateway; the call may have run",
            code=code,
        )
    if code >= 500:
        raise TransientError(f"{where}: HTTP {code} from the site", code=code)
    if code == 429:
        raise RateLimitedError(
            f"{where}: HTTP 429 Too Many Requests",
            retry_after_s=_seconds(response.headers.get("Retry-After")),
        )
    try:
        body = response.json()
    except ValueError:
        body = None
        if code == 200:
            raise PermanentError(
                f"{where}: the site did not answer with web-service JSON; check the site_url "
                "and that the REST protocol is enabled",
                code=502,
            ) from None
    if code != 200:
        raise_for_exception(body, function=function, token=token)
        hint = "web services or the REST protocol are disabled" if code == 403 else "check site_url"
        raise PermanentError(f"{where}: HTTP {code} ({hint})", code=code)
    raise_for_exception(body, function=function, token=token)
    return body


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
