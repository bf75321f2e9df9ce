"""What HubSpot CRM actions share: the OAuth access token, the token endpoint, HubSpot's answers.

**Credentials** (strategy ``oauth``): ``{"access_token", "refresh_token", "expires_at",
"client_id", "client_secret"}``. Actions read only ``access_token`` (sent as ``Authorization:
Bearer``); the resolver's refresher renews it at :data:`HUBSPOT_TOKEN`. A private app's static
token works as ``{"access_token": "pat-..."}`` alone (it does not expire).

**Token endpoint** (developers.hubspot.com, "OAuth tokens v1: refresh an access token", and the
2026-03 guide): ``POST https://api.hubapi.com/oauth/v1/token``, form-encoded, ``client_id`` and
``client_secret`` in the body; access tokens live 30 min (``expires_in`` 1800); the refresh token
is long-lived and not rotated (the answer repeats it). A dead grant is 400
``{"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"}``: note the
``status`` field, not OAuth's ``error``. The dated ``/oauth/2026-03/token`` (same form fields)
replaces v1, which HubSpot retires on 16 February 2027; ``...__HUBSPOT__TOKEN_URL`` moves it.

**Paths.** ``/crm/v3/objects/{contacts,deals}``; HubSpot's newest reference also shows dated
paths (``/crm/objects/2026-03/contacts``), v3 being the one this was written against.

**Errors** (``{"status": "error", "message", "correlationId", "category", "errors"?}``). The
seam (:mod:`integrations.provider`) maps by status; ``parameters.category`` is HubSpot's.
HubSpot's own cases (:class:`HubSpot`):

====================================  ==========================  ==============================
HubSpot answer                        our error (code)            why
====================================  ==========================  ==============================
401 EXPIRED_AUTHENTICATION /          AuthError (401)             expired or unknown token: the
    INVALID_AUTHENTICATION                                        refresher renews it, once
403 MISSING_SCOPES                    AuthError (403)             the app lacks the scope; the
                                                                  message names it
409 CONFLICT "Existing ID: <id>"      :class:`ContactExists`      the email is taken: the action
                                                                  reports that contact
400 VALIDATION_ERROR (INVALID_EMAIL,  InvalidConfigError (400)    a property value or name was
    PROPERTY_DOESNT_EXIST, ...)                                   refused; the message names it
429 RATE_LIMITS                       RateLimitedError            ``Retry-After``, else the
                                                                  ``X-HubSpot-RateLimit-
                                                                  Interval-Milliseconds`` window
====================================  ==========================  ==============================
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx

from integrations.base import Category, CredentialsStrategy, RateLimit, RateLimitScope
from integrations.bot_logger import BotLogger
from integrations.credentials.fields import SecretField
from integrations.credentials.oauth import TokenEndpoint
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
)
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, Reply, retry_after_s
from integrations.service import Service

__all__ = [
    "ACCESS_TOKEN",
    "DEFAULT_BASE_URL",
    "HUBSPOT",
    "HUBSPOT_TOKEN",
    "RATE_LIMITS",
    "TOKEN_PATH",
    "ContactExists",
    "HubSpot",
    "HubSpotIntegration",
    "custom_properties_schema",
    "properties_of",
    "rate_limit_wait_s",
]

HUBSPOT = Service("hubspot", Category.CRM, "#FF7A59", strategy=CredentialsStrategy.OAUTH)

DEFAULT_BASE_URL = "https://api.hubapi.com"
TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret

HUBSPOT_TOKEN = TokenEndpoint(
    url=DEFAULT_BASE_URL + TOKEN_PATH,
    # HubSpot says so in ``status``; ``invalid_grant`` is kept for the dated endpoint, which
    # third parties report answering in OAuth's terms (unverified in HubSpot's own docs).
    reauthorise=("invalid_grant", "BAD_REFRESH_TOKEN"),
)
"""HubSpot's token endpoint: a form, client secret in the body, refresh tokens not rotated."""

ACCESS_TOKEN = SecretField(
    provider="hubspot", fields=("access_token",), strategy="oauth",
    example='{"access_token": "...", "refresh_token": "...", "client_id": "...", '
    '"client_secret": "..."}',
)  # fmt: skip
"""The bot's OAuth access token, in its ``hubspot`` credentials (strategy ``oauth``)."""

MAX_CUSTOM = 20
#: Public (OAuth) apps: 110 requests per rolling 10 s per HubSpot account that installed them
#: (HubSpot's usage guidelines); one credential is one account's authorisation.
RATE_LIMITS = (RateLimit(scope=RateLimitScope.CREDENTIAL, limit=110, period_s=10.0),)
_OBJECT_RE = re.compile(r"objects/([a-z_]{1,30})")
_EXISTING_ID_RE = re.compile(r"Existing ID: ?([0-9]{1,20})")
_PROPERTY_NAME_RE = re.compile(r'"name" ?: ?"([A-Za-z0-9_]{1,100})"')
_INTERVAL = "x-hubspot-ratelimit-interval-milliseconds"
_REMAINING = "x-hubspot-ratelimit-remaining"


class ContactExists(PermanentError):
    """409 CONFLICT: a contact with this email exists already (``existing_id``).

    Nothing was created by this request; the action turns it into a success naming the contact.
    """

    maybe_executed = False

    def __init__(self, message: str, *, existing_id: str) -> None:
        super().__init__(message, code=409, parameters={"existing_id": existing_id})
        self.existing_id = existing_id


def custom_properties_schema(standard: Iterable[str], example: str) -> dict[str, Any]:
    """The ``custom_properties`` config field: other properties by internal name, bounded,
    none of them one of the ``standard`` ones the config names itself."""
    return {
        "description": "Other properties by internal name (custom ones included), at most "
        f"{MAX_CUSTOM}, e.g. {example}; multiple-checkbox values are joined with ';'",
        "type": "object",
        "maxProperties": MAX_CUSTOM,
        "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,99}$", "not": {"enum": list(standard)}},
        "additionalProperties": {"type": ["string", "number", "boolean"], "maxLength": 1000},
    }


def properties_of(config: dict[str, Any], standard: Iterable[str]) -> dict[str, Any]:
    """The ``properties`` of a create for a schema-valid ``config``: the standard fields it
    sets, then its ``custom_properties`` (booleans as HubSpot's "true"/"false")."""
    properties: dict[str, Any] = {name: config[name] for name in standard if name in config}
    for name, value in config.get("custom_properties", {}).items():
        properties[name] = str(value).lower() if isinstance(value, bool) else value
    return properties


def rate_limit_wait_s(headers: httpx.Headers) -> float | None:
    """How long to wait after a 429: ``Retry-After`` when sent, else the rolling window
    (``X-HubSpot-RateLimit-Interval-Milliseconds``) when it is used up (``...-Remaining: 0``)."""
    wait = retry_after_s(headers)
    if wait is not None:
        return wait
    try:
        interval_ms = float(headers.get(_INTERVAL, ""))
        remaining = int(headers.get(_REMAINING, "0"))
    except ValueError:
        return None
    if not 0 < interval_ms <= 24 * 3600 * 1000 or remaining > 0:
        return None
    return interval_ms / 1000


class HubSpot(Provider):
    """HubSpot's answers (see the module's table); a success is a JSON object."""

    name = "HubSpot"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not response.is_success or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = data if isinstance(data, dict) else {}
        category, message = body.get("category"), body.get("message")
        category = category if isinstance(category, str) and category else None
        params: dict[str, Any] = {"category": category} if category else {}
        correlation = body.get("correlationId")
        if isinstance(correlation, str) and correlation:
            params["correlation_id"] = correlation[:64]
        return ErrorDetail(
            code=category,
            message=message if isinstance(message, str) and message else None,
            retry_after_s=rate_limit_wait_s(response.headers)
            if response.status_code == 429
            else None,
            parameters=params,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, category = response.status_code, detail.code
        label = f"HTTP {status}" + (f" {category}" if category else "")
        text = detail.message or response.reason_phrase or "no message"
        params = dict(detail.parameters)
        if status == 403 and category == "MISSING_SCOPES":
            written = _OBJECT_RE.search(call.what)
            fallback = [f"crm.objects.{written.group(1)}.write"] if written else []
            scopes = _required_scopes(response) or fallback
            message = call.message(
                f"{text}; the bot's HubSpot app must be authorised with the scope(s) "
                f"{', '.join(scopes)}",
                label=label,
            )
            return AuthError(message, code=403, parameters={**params, "required_scopes": scopes})
        if status == 409 and category == "CONFLICT":
            found = _EXISTING_ID_RE.search(text)
            if found is not None:
                return ContactExists(call.message(text, label=label), existing_id=found.group(1))
        if status == 400 and category is not None:
            names = sorted(set(_PROPERTY_NAME_RE.findall(text)))
            hint = f" (property: {', '.join(names)})" if names else ""
            message = call.message(f"{text[:300]}{hint}; fix the action's config", label=label)
            return InvalidConfigError(message, parameters={**params, "properties": names})
        return None


def _required_scopes(response: httpx.Response) -> list[str]:
    """The scopes a MISSING_SCOPES answer lists (``errors[].context.requiredScopes``)."""
    try:
        body = response.json()
    except ValueError:
        return []
    found: list[str] = []
    errors = body.get("errors") if isinstance(body, dict) else None
    for entry in errors if isinstance(errors, list) else []:
        context = entry.get("context") if isinstance(entry, dict) else None
        if not isinstance(context, dict):
            continue
        for key in ("requiredScopes", "requiredGranularScopes"):
            values = context.get(key)
            if isinstance(values, list):
                found.extend(v for v in values if isinstance(v, str) and len(v) <= 100)
    return sorted(set(found))[:10]


class HubSpotIntegration(KeyedHttpIntegration):
    """Base of the HubSpot CRM actions: the shared client, the OAuth token and one JSON POST."""

    service: ClassVar[str] = "hubspot"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = HubSpot()
    secret = ACCESS_TOKEN
    http_timeout_s: ClassVar[float] = 20.0

    async def create(
        self, objects: str, body: dict[str, Any], token: str, logger: BotLogger
    ) -> str:
        """``POST /crm/v3/objects/<objects>`` with ``body``; the new object's id."""
        what = f"POST crm/v3/objects/{objects}"
        reply: Reply = await self.call(
            "POST", f"/crm/v3/objects/{objects}", json=body,
            headers={"Authorization": f"Bearer {token}"}, secrets=[token], what=what,
            logger=logger,
        )  # fmt: skip
        found = reply.body.get("id")
        if not isinstance(found, str | int) or isinstance(found, bool):
            raise OutcomeUnknownError(
                f"HubSpot {what}: an answer without an id ({type(found).__name__}); the object "
                "may have been created",
                code=502,
            )
        return str(found)
