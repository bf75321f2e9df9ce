"""What Moodle web-service actions share: the site credentials, the REST call, Moodle's answers.

**The wire** (external-apis.md §8.3): ``POST <site>/webservice/rest/server.php``, form-encoded,
``wstoken`` + ``wsfunction`` + ``moodlewsrestformat=json`` + the function's arguments in PHP
array notation (``messages[0][touserid]=5``). Every value goes in the body, none in the URL, so
the token never appears in a request line or an access log. The site differs per bot, so the
URL comes from the credentials: ``{"site_url": "https://lms.example.edu", "token": "..."}``.

**Errors come inside HTTP 200**: ``{"exception", "errorcode", "message", "debuginfo"?}``.
:class:`Moodle` decides by ``errorcode``, as the status it means (so messages read
``HTTP 401 invalidtoken: ...`` although the site answered 200):

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
                                                                    (``debuginfo`` says which)
sitemaintenance, dml*                       TransientError (503)    maintenance, DB hiccup
disabled, servicenotavailable, other        PermanentError (400)    site configuration
==========================================  ======================  ===========================

Outside the envelope, two answers are Moodle's own: a bare HTTP 403 (``server.php`` dies with
it when web services or the REST protocol are disabled) → :class:`PermanentError`, not an auth
error; a 200 that is not JSON (a login page: wrong ``site_url``) → :class:`PermanentError`.
Every other status, and every transport failure, is mapped by :mod:`integrations.provider`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.errors import AuthError, IntegrationError, InvalidConfigError, PermanentError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, status_error
from integrations.service import Service

__all__ = ["MOODLE", "REST_PATH", "Moodle", "MoodleIntegration", "MoodleSite"]

MOODLE = Service("moodle", Category.EDUCATION, "#F98012")

REST_PATH = "/webservice/rest/server.php"
_AUTH_CODES = frozenset({"invalidtoken", "invalidtimedtoken", "invalidiptoken"})
_ACCESS_CODES = frozenset({"accessexception", "nopermissions", "webservice_access_exception"})
_TRANSIENT_CODES = frozenset({"sitemaintenance"})


class Moodle(Provider):
    """Moodle's answers: an exception envelope inside HTTP 200; its ``errorcode`` decides."""

    name = "Moodle"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        if not response.is_success:
            return True
        if data is None:  # not JSON, unless the function returned null
            return response.content.strip() != b"null"
        return _exception(data) is not None

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = _exception(data)
        if body is None:
            return ErrorDetail()
        code = str(body["errorcode"])
        message = str(body.get("message") or "") or None
        debug = body.get("debuginfo")
        if code == "invalidparameter" and debug:  # it names the offending argument
            message = f"{message}: {debug}" if message else str(debug)
        return ErrorDetail(code=code, message=message)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        code = detail.code
        if code is None:
            if response.is_success:
                return PermanentError(
                    call.message(
                        "not web-service JSON; check the site_url and that the REST protocol "
                        "is enabled",
                        label="HTTP 200",
                    ),
                    code=502,
                )
            if response.status_code == 403:
                return PermanentError(
                    call.message(
                        "web services or the REST protocol are disabled", label="HTTP 403"
                    ),
                    code=403,
                )
            return None
        if code in _AUTH_CODES or code.startswith("wsaccessuser"):
            return status_error(call, 401, detail)
        if code in _ACCESS_CODES:
            hint = (
                f"; add {call.what} to the token's external service and give its user the "
                "capability (e.g. moodle/site:sendmessage)"
            )
            return status_error(call, 403, replace(detail, message=f"{detail.message}{hint}"))
        if code == "invalidparameter":
            return InvalidConfigError(status_error(call, 400, detail).message)
        if code in _TRANSIENT_CODES or code.startswith("dml"):
            return status_error(call, 503, detail)
        return status_error(call, 400, detail)


def _exception(data: Any) -> dict[str, Any] | None:
    is_exception = isinstance(data, dict) and "exception" in data and "errorcode" in data
    return data if is_exception else None


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


class MoodleIntegration(HttpIntegration, CredentialedIntegration[MoodleSite]):
    """Base of the Moodle actions: the ``moodle`` credentials and one web-service call.

    The shared HTTP client is per service, not per site: each call uses the site's absolute URL
    (connections are pooled per host anyway).
    """

    service: ClassVar[str] = "moodle"
    default_base_url: ClassVar[str] = ""  # every call uses the absolute URL of the bot's site
    # The portal's URL is the tenant's: its client connects only where egress policy allows.
    tenant_urls = True
    provider = Moodle()
    http_timeout_s: ClassVar[float] = 20.0

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> MoodleSite | None:
        """The bot's Moodle site, or ``None`` when it has no ``moodle`` credentials."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="moodle", strategy="api_key")
        if not creds:
            return None
        site = MoodleSite.from_credentials(creds)
        logger.add_secret(site.token)
        return site

    async def web_service(
        self, site: MoodleSite, function: str, args: dict[str, str], *, logger: BotLogger
    ) -> Any:
        """Run ``function`` with PHP-array ``args``; its JSON result, or our typed error."""
        form = {"wstoken": site.token, "wsfunction": function, "moodlewsrestformat": "json", **args}
        reply = await self.call(
            "POST", site.rest_url, data=form, secrets=[site.token], what=function, logger=logger
        )
        return reply.data
