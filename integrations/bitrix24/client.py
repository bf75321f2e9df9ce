"""What Bitrix24 actions share: the webhook URL (a credential), calling a REST method, errors.

**The credential is a URL.** An inbound webhook is ``https://<portal>/rest/<user id>/<secret>/``;
whoever holds it can call the portal's REST API as that user. It is the one secret of the bot's
credentials (``{"webhook_url": ...}``, :data:`WEBHOOK_URL`), is registered with the request's
logger as a secret, and never appears in an error message: messages name the portal's host and
the method only.
httpx logs every request URL at INFO (logger ``httpx``), so :func:`install_webhook_log_filter`
puts a filter on that logger blanking the ``/rest/<id>/<secret>/`` part; the ``bitrix24``
client installs it before its first call.

**Why httpx.** One POST of a JSON body per action. ``fast_bitrix24`` (aiohttp) brings its own
session per webhook and its own leaky-bucket throttle, which would duplicate the processor's
distributed rate limiter; the other clients are synchronous.

**Errors** are ``{"error": "CODE", "error_description": "..."}`` (apidocs.bitrix24.ru, "system
errors", and ``external-apis.md`` §6.1), sometimes with HTTP 200, so the code decides first;
``parameters.error`` is the code. The seam (:mod:`integrations.provider`) maps the rest by
status (a 5xx is "maybe created"). Bitrix24's own cases (:class:`Bitrix24`):

=================================  ======================  ==================================
Bitrix24 answer                    our error (code)        why
=================================  ======================  ==================================
QUERY_LIMIT_EXCEEDED (503)         RateLimitedError (429)  leaky bucket (2/s, burst 50): no
                                                           Retry-After, back off 2 s
OVERLOAD_LIMIT (503)               PermanentError (503)    manual block: only support lifts it
NO_AUTH_FOUND / expired_token /    AuthError (401)         wrong or revoked webhook, whatever
    invalid_token                                          the status
INVALID_CREDENTIALS /              AuthError (403)         the webhook's user lacks rights or
    insufficient_scope                                     the webhook lacks the crm scope
other 403 (ACCESS_DENIED)          PermanentError (403)    plan without REST, no right to add
400                                InvalidConfigError      bad field values
PORTAL_DELETED                     PermanentError (500)    the portal is closed
another code with HTTP 2xx         PermanentError (400)    Bitrix24 refused, asking again
                                                           gets the same answer
=================================  ======================  ==================================
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from integrations.base import Category
from integrations.bot_logger import REDACTED, BotLogger
from integrations.credentials.fields import SecretField
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s
from integrations.service import Service

__all__ = [
    "BITRIX24",
    "QUERY_LIMIT_BACKOFF_S",
    "WEBHOOK_URL",
    "Bitrix24",
    "Bitrix24Integration",
    "Webhook",
    "WebhookLogFilter",
    "install_webhook_log_filter",
]

BITRIX24 = Service("bitrix24", Category.CRM, "#2FC6F6")

# The bucket drains 2 requests/s (5 on Enterprise): after a 503 a couple of seconds frees a few.
QUERY_LIMIT_BACKOFF_S = 2.0
_REST_PATH_RE = re.compile(r"(/rest/\d+/)([^/\s\"'?#]+)")
_AUTH_CODES = frozenset({"NO_AUTH_FOUND", "EXPIRED_TOKEN", "INVALID_TOKEN"})
_RIGHTS_CODES = frozenset({"INVALID_CREDENTIALS", "INSUFFICIENT_SCOPE"})
_EXAMPLE = '{"webhook_url": "https://<portal>.bitrix24.ru/rest/<user id>/<secret>/"}'

WEBHOOK_URL = SecretField(
    provider="bitrix24", fields=("webhook_url",), example=_EXAMPLE, strip=True
)
"""The bot's inbound-webhook URL, in its ``bitrix24`` credentials (it holds the secret)."""


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
    def parse(cls, raw: str) -> Webhook:
        """Validate a stored webhook URL; :class:`AuthError` (never echoing it) otherwise."""
        url = raw.strip().split("?", 1)[0].rstrip("/")
        parts = urlsplit(url)
        match = _REST_PATH_RE.search(parts.path + "/")
        if parts.scheme not in ("http", "https") or not parts.hostname or match is None:
            # Not echoing the value: it is (or contains) the secret.
            raise AuthError(
                "the bot's 'bitrix24' webhook_url is not an inbound-webhook URL; store the bot's "
                f"'bitrix24' credentials as {_EXAMPLE}"
            )
        # Anything after the secret (a pasted method name such as crm.lead.add.json) is dropped.
        base_path = parts.path[: match.end(2)]
        return cls(f"{parts.scheme}://{parts.netloc}{base_path}/", parts.hostname, match.group(2))

    def method_url(self, method: str) -> str:
        return f"{self.base}{method}.json"


class Bitrix24(Provider):
    """Bitrix24's answers (see the module's table); a success is ``{"result": ...}``."""

    name = "Bitrix24"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        body = data if isinstance(data, dict) else {}
        return response.status_code != 200 or "error" in body or "result" not in body

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = data if isinstance(data, dict) else {}
        code, text = body.get("error"), body.get("error_description")
        code = code.strip() if isinstance(code, str) and code.strip() else None
        return ErrorDetail(
            code=code,
            message=text if isinstance(text, str) and text else None,
            parameters={"error": code} if code else {},
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        code = (detail.code or "").upper()
        # The wire status stays in messages; the code says what it means.
        label = f"HTTP {status}" + (f" {detail.code}" if detail.code else "")
        text = f"{label}: {detail.message or response.reason_phrase or 'no message'}"
        params = dict(detail.parameters)
        if code == "QUERY_LIMIT_EXCEEDED":
            wait = retry_after_s(response.headers)
            wait = QUERY_LIMIT_BACKOFF_S if wait is None else wait
            message = call.message(text)
            return RateLimitedError(message, retry_after_s=wait, parameters=params)
        if code == "OVERLOAD_LIMIT":
            message = call.message(f"{text}; only Bitrix24 support lifts the block")
            return PermanentError(message, code=503, parameters=params)
        if code in _AUTH_CODES:
            message = call.message(f"{text}; check this bot's 'bitrix24' webhook")
            return AuthError(message, parameters=params)
        if code in _RIGHTS_CODES:
            message = call.message(
                f"{text}; the webhook needs the 'crm' scope and a user allowed to add leads"
            )
            return AuthError(message, code=403, parameters=params)
        if code == "PORTAL_DELETED":
            message = call.message(f"{text}; the portal is closed")
            return PermanentError(message, code=500, parameters=params)
        if status == 403:
            return PermanentError(call.message(text), code=403, parameters=params)
        if status == 400:
            message = call.message(f"{text}; fix the action's config")
            return InvalidConfigError(message, parameters=params)
        if status < 300 and code:  # refused with HTTP 200: asking again gets the same answer
            return PermanentError(call.message(text), code=400, parameters=params)
        return None


class Bitrix24Integration(KeyedHttpIntegration):
    """Base of the Bitrix24 actions: the webhook from credentials and :meth:`call_method`.

    The webhook URL is absolute, so the shared client's base URL is never used; the endpoint
    settings still give the timeout (``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__BITRIX24__...``).
    """

    service: ClassVar[str] = "bitrix24"
    default_base_url: ClassVar[str] = ""
    # The portal's URL is the tenant's: its client connects only where egress policy allows.
    tenant_urls = True
    provider = Bitrix24()
    secret = WEBHOOK_URL
    http_timeout_s: ClassVar[float] = 20.0  # Bitrix24 methods can take seconds

    @staticmethod
    def webhook(url: str, logger: BotLogger) -> Webhook:
        """The bot's webhook from its stored ``url``; its base and secret become secrets."""
        hook = Webhook.parse(url)
        logger.add_secret([hook.base, hook.secret])
        return hook

    async def call_method(
        self, hook: Webhook, method: str, payload: dict[str, Any], *, logger: BotLogger
    ) -> Any:
        """POST ``payload`` as JSON to ``method``; its ``result``, or a typed error."""
        install_webhook_log_filter()
        reply = await self.call(
            "POST", hook.method_url(method), json=payload,
            secrets=[hook.secret, hook.base], what=f"{method} on {hook.host}", logger=logger,
        )  # fmt: skip
        return reply.body["result"]
