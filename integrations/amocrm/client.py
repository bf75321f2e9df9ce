"""What AmoCRM (Kommo) actions share: the bot's account URL and token, the token endpoint, errors.

**The account is the tenant's.** Every amoCRM account has its own host, ``https://<subdomain>.
amocrm.ru`` (also ``.amocrm.com``; Kommo's are ``<subdomain>.kommo.com``), named in the bot's
credentials as ``base_url`` (or just ``subdomain``, meaning ``.amocrm.ru``). :func:`account_url`
accepts only those shapes: ``https``, a subdomain of one of :data:`ACCOUNT_DOMAINS`, no path,
port, query or user info; the one exception is a loopback ``http://127.0.0.1:<port>`` (a fake),
which the egress policy refuses anyway unless the operator allows loopback (the tests do). The
client is egress-checked (``tenant_urls``), as Bitrix24's portals and Moodle's sites are.

**Credentials** (strategy ``oauth``): ``{"base_url", "access_token", "refresh_token",
"expires_at", "client_id", "client_secret", "redirect_uri"}``; actions read ``base_url`` and
``access_token`` only. A private integration's long-lived token works alone:
``{"base_url": "https://example.amocrm.ru", "access_token": "<long-lived token>"}``.

**Token endpoint** (developers.kommo.com "get token"; amoCRM's PHP library issues): ``POST
<account>/oauth2/access_token`` with JSON ``{client_id, client_secret, grant_type,
refresh_token, redirect_uri}`` → ``{"token_type": "Bearer", "expires_in", "access_token",
"refresh_token"}``; access tokens live 24 h; **each refresh token works once** (the answer carries
its successor). A spent or revoked one is answered in RFC 7807 terms with no OAuth ``error``:
``{"hint": "Token has been revoked", "title": "Некорректный запрос", "type":
".../v3/errors/OAuthProblemJson", "status": 401, "detail": ...}`` (amocrm-api-php #123, #315).

**Errors** (amoCRM "API errors and responses"): RFC 7807 ``{"title", "type", "status",
"detail"}``; 400 adds ``"validation-errors": [{"request_id", "errors": [{"code", "path",
"detail"}]}]``. AmoCRM's cases (:class:`AmoCRM`); the seam maps the rest by status:

=========================  ==========================  =========================================
AmoCRM answer              our error (code)            why
=========================  ==========================  =========================================
401                        AuthError (401)             expired or unknown token: renewed once
400 validation-errors      InvalidConfigError (400)    a field was refused; the message names
                                                       its path (``custom_fields_values.0...``)
402                        PermanentError (402)        the account is not paid for (blocked)
403                        PermanentError (403)        the account or our IP is blocked (abuse of
                                                       the limits) or the user may not add leads:
                                                       a new token does not help
429                        RateLimitedError            7 req/s per account; no Retry-After: 1 s
=========================  ==========================  =========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike, CredentialsStrategy
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.credentials.oauth import TokenEndpoint
from integrations.errors import AuthError, IntegrationError, InvalidConfigError, PermanentError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s
from integrations.service import Service

__all__ = [
    "ACCOUNT_DOMAINS",
    "AMOCRM",
    "AMOCRM_TOKEN",
    "TOKEN_PATH",
    "AmoAccount",
    "AmoCRM",
    "AmoCRMIntegration",
    "account_url",
]

AMOCRM = Service("amocrm", Category.CRM, "#339DC7", strategy=CredentialsStrategy.OAUTH)

ACCOUNT_DOMAINS = ("amocrm.ru", "amocrm.com", "kommo.com")
TOKEN_PATH = "/oauth2/access_token"  # noqa: S105 - a path, not a secret
RATE_LIMIT_BACKOFF_S = 1.0  # 7 requests per second: a second frees the window

_SUBDOMAIN_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOOPBACK = "127.0.0.1"
_EXAMPLE = (
    '{"base_url": "https://<subdomain>.amocrm.ru", "access_token": "...", "refresh_token": '
    '"...", "client_id": "...", "client_secret": "...", "redirect_uri": "..."}'
)


def account_url(credentials: Mapping[str, Any]) -> str:
    """The account's origin (``https://<subdomain>.amocrm.ru``) from ``base_url`` or
    ``subdomain``; :class:`AuthError` naming the field when it is neither (see the module)."""
    subdomain, raw = credentials.get("subdomain"), credentials.get("base_url")
    if raw is None and isinstance(subdomain, str):
        if not _SUBDOMAIN_RE.fullmatch(subdomain):
            raise AuthError(
                f"the bot's 'amocrm' subdomain {subdomain[:70]!r} is not a subdomain (letters, "
                "digits and '-'); store e.g. \"example\" for https://example.amocrm.ru"
            )
        return f"https://{subdomain}.amocrm.ru"
    if not isinstance(raw, str) or len(raw) > 300:
        raise AuthError(
            f"the bot's 'amocrm' credentials have no 'base_url'; store them as {_EXAMPLE}"
        )
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is not None and parts.hostname == _LOOPBACK and parts.scheme == "http" and port:
        return f"http://{_LOOPBACK}:{port}"  # a fake on loopback; egress refuses it by default
    host = (parts.hostname or "") if parts is not None else ""
    sub, _, domain = host.partition(".")
    if (
        parts is None
        or parts.scheme != "https"
        or domain not in ACCOUNT_DOMAINS
        or not _SUBDOMAIN_RE.fullmatch(sub)
        or port is not None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise AuthError(
            f"the bot's 'amocrm' base_url {raw[:100]!r} is not an account URL; use the account's "
            f"origin, https://<subdomain>.<{' | '.join(ACCOUNT_DOMAINS)}>, nothing after it"
        )
    return f"https://{host}"


def token_url(credentials: Mapping[str, Any]) -> str:
    """Where this account's tokens are renewed: ``<account>/oauth2/access_token``."""
    return account_url(credentials) + TOKEN_PATH


AMOCRM_TOKEN = TokenEndpoint(
    url="https://<subdomain>.amocrm.ru" + TOKEN_PATH,  # never used: url_from decides
    body="json",
    rotates_refresh_token=True,
    url_from=token_url,
    carried=("redirect_uri",),
    # AmoCRM names a spent or revoked refresh token only in the answer's ``hint`` (no OAuth
    # ``error`` field): see the module docstring.
    reauthorise=("invalid_grant", "Token has been revoked"),
)
"""AmoCRM's per-account token endpoint: JSON, single-use refresh tokens, ``redirect_uri`` sent."""


class AmoAccount:
    """A bot's AmoCRM account: its origin and access token (from the credentials)."""

    __slots__ = ("token", "url")

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[-1]

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any]) -> AmoAccount:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise AuthError(
                f"the bot's 'amocrm' credentials have no 'access_token'; store them as {_EXAMPLE}"
            )
        return cls(account_url(credentials), token.strip())


class AmoCRM(Provider):
    """AmoCRM's answers (see the module's table); a success is a JSON object."""

    name = "AmoCRM"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not response.is_success or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = data if isinstance(data, dict) else {}
        title, detail = _text(body.get("title")), _text(body.get("detail"))
        message = f"{title}: {detail}" if title and detail and title != detail else title or detail
        wait = None
        if response.status_code == 429:
            wait = retry_after_s(response.headers)
            wait = RATE_LIMIT_BACKOFF_S if wait is None else wait
        fields = _validation_errors(body)
        return ErrorDetail(
            code=title,
            message=message,
            retry_after_s=wait,
            parameters={"fields": fields} if fields else {},
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        text = detail.message or response.reason_phrase or "no message"
        label = f"HTTP {status}"
        params = dict(detail.parameters)
        if status == 400 and detail.code is not None:
            fields = params.get("fields") or []
            named = "; ".join(f"{f['path']}: {f['code']} {f['detail']}".strip() for f in fields)
            message = call.message(
                f"{text}{' (' + named + ')' if named else ''}; fix the action's config", label=label
            )
            return InvalidConfigError(message, parameters=params)
        if status == 402:
            message = call.message(
                f"{text}; the amoCRM account is not paid for: its owner must renew the "
                "subscription",
                label=label,
            )
            return PermanentError(message, code=402, parameters=params)
        if status == 403:
            message = call.message(
                f"{text}; amoCRM refused the account: it (or this worker's IP, after too many "
                "requests) is blocked, or the authorised user may not add leads; a new token "
                "does not help",
                label=label,
            )
            return PermanentError(message, code=403, parameters=params)
        return None


def _text(value: object) -> str | None:
    return value[:300] if isinstance(value, str) and value else None


def _validation_errors(body: Mapping[str, Any]) -> list[dict[str, str]]:
    """``validation-errors[].errors[]`` as ``{"path", "code", "detail"}`` (at most 10)."""
    found: list[dict[str, str]] = []
    groups = body.get("validation-errors")
    for group in groups if isinstance(groups, list) else []:
        errors = group.get("errors") if isinstance(group, dict) else None
        for entry in errors if isinstance(errors, list) else []:
            if isinstance(entry, dict):
                found.append(
                    {k: (_text(entry.get(k)) or "")[:120] for k in ("path", "code", "detail")}
                )
    return found[:10]


class AmoCRMIntegration(HttpIntegration, CredentialedIntegration[AmoAccount]):
    """Base of the AmoCRM actions: the bot's account (egress-checked) and one JSON call.

    The shared client is per service, not per account: each call uses the account's absolute
    URL.
    """

    service: ClassVar[str] = "amocrm"
    default_base_url: ClassVar[str] = ""  # every call uses the absolute URL of the account
    # The account's URL is the tenant's: its client connects only where egress policy allows.
    tenant_urls = True
    provider = AmoCRM()
    http_timeout_s: ClassVar[float] = 20.0

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> AmoAccount | None:
        """The bot's account, or ``None`` when it has no ``amocrm`` credentials."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="amocrm", strategy="oauth")
        if not creds:
            return None
        token = creds.get("access_token")
        if isinstance(token, str) and token:
            logger.add_secret([token, token.strip()])
        return AmoAccount.from_credentials(creds)

    async def post(
        self, account: AmoAccount, path: str, payload: Any, *, logger: BotLogger
    ) -> dict[str, Any]:
        """POST ``payload`` as JSON to ``path`` of the account; the answer's object."""
        reply = await self.call(
            "POST", account.url + path, json=payload,
            headers={"Authorization": f"Bearer {account.token}"},
            secrets=[account.token], what=f"POST {path} on {account.host}", logger=logger,
        )  # fmt: skip
        return reply.body
