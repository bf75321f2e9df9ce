"""What Bitrix24 actions share: the webhook URL (a credential), calling a REST method, errors.

**The credential is a URL.** An inbound webhook is ``https://<portal>/rest/<user id>/<secret>/``;
whoever holds it can call the portal's REST API as that user. It comes from the bot's
credentials (``{"webhook_url": ...}``), is registered with the request's logger as a secret,
and never appears in an error message: messages name the portal's host and the method only.
httpx logs every request URL at INFO (logger ``httpx``), so :func:`install_webhook_log_filter`
puts a filter on that logger blanking the ``/rest/<id>/<secret>/`` part; the ``bitrix24``
client installs it before its first call.

**Why httpx.** One POST of a JSON body per action. ``fast_bitrix24`` (aiohttp) brings its own
session per webhook and its own leaky-bucket throttle, which would duplicate the processor's
distributed rate limiter; the other clients are synchronous.

**Errors** (``{"error": "CODE", "error_description": "..."}``; apidocs.bitrix24.ru, "system
errors", and ``external-apis.md`` §6.1):

=================================  ======================  ==================================
Bitrix24 answer                    our error (code)        why
=================================  ======================  ==================================
503 QUERY_LIMIT_EXCEEDED           RateLimitedError (429)  leaky bucket (2/s, burst 50): no
                                                           retry-after, back off 2 s
429 (operating-time limit)         RateLimitedError (429)  method blocked for a while
503 OVERLOAD_LIMIT                 PermanentError (503)    manual block: only support lifts it
401 NO_AUTH_FOUND / expired_token  AuthError (401)         wrong or revoked webhook
403 INVALID_CREDENTIALS /          AuthError (403)         the webhook's user lacks rights or
    insufficient_scope                                     the webhook lacks the crm scope
403 ACCESS_DENIED / other 403      PermanentError (403)    plan without REST, no right to add
404 (method or portal not found)   PermanentError (404)    check the webhook URL
400                                InvalidConfigError      bad field values
500 PORTAL_DELETED                 PermanentError (500)
other 5xx                          OutcomeUnknownError     maybe created (``maybe_executed``)
connect error                      TransientError (503)    not sent
timeout / cut connection           OutcomeUnknownError     maybe created (``maybe_executed``)
=================================  ======================  ==================================
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import REDACTED, BotLogger
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpIntegration
from integrations.outcome import fail

__all__ = [
    "QUERY_LIMIT_BACKOFF_S",
    "Bitrix24Integration",
    "Webhook",
    "WebhookLogFilter",
    "credentials_not_found",
    "install_webhook_log_filter",
    "map_response_error",
    "map_transport_error",
]

# The bucket drains 2 requests/s (5 on Enterprise): after a 503 a couple of seconds frees a few.
QUERY_LIMIT_BACKOFF_S = 2.0
_REST_PATH_RE = re.compile(r"(/rest/\d+/)([^/\s\"'?#]+)")


def credentials_not_found() -> dict[str, Any]:
    """The seed's envelope for a bot without credentials for this service."""
    return fail(401, "Credentials not found")


class WebhookLogFilter(logging.Filter):
    """Blanks the secret of ``/rest/<id>/<secret>/`` webhook paths in records (httpx's URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _scrub(str(a)) if _REST_PATH_RE.search(str(a)) else a for a in record.args
            )
        return True


def _scrub(text: str) -> str:
    return _REST_PATH_RE.sub(rf"\1{REDACTED}", text)


def install_webhook_log_filter(logger_name: str = "httpx") -> None:
    """Add one :class:`WebhookLogFilter` to ``logger_name``'s logger (idempotent)."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, WebhookLogFilter) for f in target.filters):
        target.addFilter(WebhookLogFilter())


class Webhook:
    """A validated inbound-webhook base URL, ``https://<portal>/rest/<id>/<secret>/``."""

    __slots__ = ("base", "host", "secret")

    def __init__(self, base: str, host: str, secret: str) -> None:
        self.base = base
        self.host = host
        self.secret = secret

    @classmethod
    def parse(cls, creds: dict[str, Any]) -> Webhook:
        raw = creds.get("webhook_url")
        hint = (
            "store the bot's 'bitrix24' credentials as "
            '{"webhook_url": "https://<portal>.bitrix24.ru/rest/<user id>/<secret>/"}'
        )
        if not isinstance(raw, str) or not raw.strip():
            raise AuthError(f"the bot's 'bitrix24' credentials have no 'webhook_url'; {hint}")
        url = raw.strip().split("?", 1)[0].rstrip("/")
        parts = urlsplit(url)
        match = _REST_PATH_RE.search(parts.path + "/")
        if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
            # Not echoing the value: it is (or contains) the secret.
            raise AuthError(
                f"the bot's 'bitrix24' webhook_url is not an inbound-webhook URL; {hint}"
            )
        # Anything after the secret (a pasted method name such as crm.lead.add.json) is dropped.
        base_path = parts.path[: match.end(2)]
        return cls(f"{parts.scheme}://{parts.netloc}{base_path}/", parts.hostname, match.group(2))

    def method_url(self, method: str) -> str:
        return f"{self.base}{method}.json"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def map_response_error(
    response: httpx.Response, *, method: str, host: str, secret: str
) -> IntegrationError:
    """Our typed error for a failed Bitrix24 answer (see the module's table)."""
    status = response.status_code
    body = _json(response)
    code = str(body.get("error") or "").strip()
    text = str(body.get("error_description") or response.reason_phrase or "").replace(
        secret, REDACTED
    )
    upper = code.upper()
    where = f"Bitrix24 {method} on {host}"
    detail = f"{code}: {text}" if code else text or f"HTTP {status}"
    params: dict[str, Any] = {"error": code} if code else {}

    if upper == "QUERY_LIMIT_EXCEEDED":
        return RateLimitedError(
            f"{where}: request rate limit exceeded ({detail})",
            retry_after_s=QUERY_LIMIT_BACKOFF_S,
            parameters=params,
        )
    if upper == "OVERLOAD_LIMIT":
        return PermanentError(
            f"{where}: REST API blocked for overload ({detail}); only Bitrix24 support lifts it",
            code=503,
            parameters=params,
        )
    if status == 429:
        retry = response.headers.get("retry-after")
        wait = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
        return RateLimitedError(
            f"{where}: method time limit exceeded ({detail})", retry_after_s=wait, parameters=params
        )
    if status == 401 or upper in ("NO_AUTH_FOUND", "EXPIRED_TOKEN", "INVALID_TOKEN"):
        return AuthError(
            f"{where}: the webhook was rejected ({detail}); check this bot's 'bitrix24' "
            "webhook_url",
            parameters=params,
        )
    if upper in ("INVALID_CREDENTIALS", "INSUFFICIENT_SCOPE"):
        return AuthError(
            f"{where}: the webhook may not do this ({detail}); it needs the 'crm' scope and a "
            "user allowed to add leads",
            code=403,
            parameters=params,
        )
    if status == 403:
        return PermanentError(f"{where}: access denied ({detail})", code=403, parameters=params)
    if status == 404:
        return PermanentError(
            f"{where}: not found ({detail}); check the webhook URL's portal",
            code=404,
            parameters=params,
        )
    if status == 400:
        return InvalidConfigError(
            f"{where}: rejected the fields ({detail}); fix the action's config", parameters=params
        )
    if upper == "PORTAL_DELETED":
        return PermanentError(
            f"{where}: the portal is closed ({detail})", code=500, parameters=params
        )
    if status >= 500:
        return OutcomeUnknownError(
            f"{where}: HTTP {status} ({detail}); the lead may have been created",
            code=status,
            parameters=params,
        )
    return PermanentError(f"{where}: HTTP {status} ({detail})", code=status, parameters=params)


def map_transport_error(exc: httpx.TransportError, *, method: str, host: str) -> TransientError:
    """Not sent (connect), or maybe applied (timeout, cut): an ``OutcomeUnknownError``."""
    name = type(exc).__name__
    where = f"Bitrix24 {method} on {host}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(f"{where}: could not connect ({name}); nothing was sent", code=503)
    code = 504 if isinstance(exc, httpx.TimeoutException) else 502
    return OutcomeUnknownError(
        f"{where}: no complete answer ({name}); the lead may have been created",
        code=code,
    )


class Bitrix24Integration(HttpIntegration):
    """Base of the Bitrix24 actions: the webhook from credentials and :meth:`call`.

    The webhook URL is absolute, so the shared client's base URL is never used; the endpoint
    settings still give the timeout (``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__BITRIX24__...``).
    """

    service: ClassVar[str] = "bitrix24"
    default_base_url: ClassVar[str] = ""
    http_timeout_s: ClassVar[float] = 20.0  # Bitrix24 methods can take seconds

    async def webhook(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> Webhook | None:
        """The bot's webhook, or ``None`` when it has no Bitrix24 credentials."""
        creds = await resolver.get_default_for(
            bot_id=bot_id, provider="bitrix24", strategy="api_key"
        )
        if not creds:
            return None
        raw = creds.get("webhook_url")
        if isinstance(raw, str):
            logger.add_secret(raw)
        hook = Webhook.parse(creds)
        logger.add_secret(hook.base)
        logger.add_secret(hook.secret)
        return hook

    async def call(self, hook: Webhook, method: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``method``; its ``result``, or a typed error."""
        install_webhook_log_filter()
        try:
            response = await self.http.post(hook.method_url(method), json=payload)
        except httpx.TransportError as exc:
            raise map_transport_error(exc, method=method, host=hook.host) from None
        body = _json(response)
        if response.status_code != 200 or "error" in body:
            raise map_response_error(response, method=method, host=hook.host, secret=hook.secret)
        if "result" not in body:
            raise OutcomeUnknownError(
                f"Bitrix24 {method} on {hook.host}: HTTP 200 without a result",
                code=502,
            )
        return body["result"]
