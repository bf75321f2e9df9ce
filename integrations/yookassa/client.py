"""What YooKassa actions share: credentials, the ``Idempotence-Key``, YooKassa's answers.

**Why httpx, not the official SDK.** ``yookassa`` (3.x) is synchronous (``requests``; a later
revision wraps a blocking ``httpx.Client`` in ``async def``), sleeps with ``time.sleep`` while it
retries HTTP 202, and takes the shop's credentials from the process-global
``Configuration.configure(account_id, secret_key)``. A worker runs many bots with different
shops concurrently on one event loop, so that global, and every blocking call, would be wrong
here. The API is one JSON POST, made over the service's shared ``httpx.AsyncClient``.

**Idempotency.** Every POST carries ``Idempotence-Key`` (YooKassa's spelling), the request's
``idempotency_key`` from :func:`integrations.context.request_context`: stable across our
retries and redeliveries, so YooKassa returns the original payment instead of creating a second
one (for 24 h). Keys over YooKassa's 64 characters are replaced by their SHA-256 (64 hex chars).

**Errors** go through the provider-call seam (:mod:`integrations.provider`: its status table,
transport failures, ``Retry-After``, scrubbing). YooKassa's error body is ``{"type": "error",
"id", "code", "description", "parameter", "retry_after"}`` (``external-apis.md`` §5.2); its own
answers:

======================  ===============================  ========================================
YooKassa answer         our error (code)                 why
======================  ===============================  ========================================
202 + retry_after ms    PaymentProcessingError (202),    accepted, not finished: ask again with
                        a RateLimitedError               the same key after ``retry_after``
400 on Idempotence-Key  PermanentError (400)             the key was used with other data
400 invalid_request     InvalidConfigError (400)         ``parameters.parameter`` names the field
403 forbidden           PermanentError (403)             the shop may not do this; keys are fine
429 too_many_requests   RateLimitedError (429)           waits the body's ``retry_after`` (ms)
200 without an object   TransientError (502)             not YooKassa's answer
======================  ===============================  ========================================

YooKassa documents 500 as "outcome unknown, repeat with the same key": the seam's table already
makes a 5xx of this (writing) action an ``OutcomeUnknownError``, as it does a timeout or a cut
connection; the retry's ``Idempotence-Key`` returns the payment if it was made.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike, CredentialsStrategy
from integrations.bot_logger import BotLogger
from integrations.context import provider_idempotency_key
from integrations.credentialed import CredentialedIntegration
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider
from integrations.service import Service

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_KEY_CHARS",
    "YOOKASSA",
    "PaymentProcessingError",
    "YooKassa",
    "YooKassaCredentials",
    "YooKassaIntegration",
    "idempotence_key",
]

YOOKASSA = Service("yookassa", Category.PAYMENTS, "#0070F0", strategy=CredentialsStrategy.BASIC)

DEFAULT_BASE_URL = "https://api.yookassa.ru/v3"
MAX_KEY_CHARS = 64
# No retry_after in a 202 body: the official SDK waits its timeout setting, 1800 ms by default.
DEFAULT_PROCESSING_WAIT_S = 1.8


class PaymentProcessingError(RateLimitedError):
    """HTTP 202: YooKassa accepted the request but has not finished processing it.

    Not a failure: the same request with the same ``Idempotence-Key`` must be sent again after
    ``retry_after_s``; it then returns the payment. A rate-limited error, so the processor waits
    exactly that long (it counts no failed attempt for a rate limit).
    """

    default_code = 202


class YooKassa(Provider):
    """YooKassa's answers: a payment with HTTP 200, anything else is an error (202 included)."""

    name = "YooKassa"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return response.status_code != 200 or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        body = data if isinstance(data, dict) else {}
        code, parameter = _text(body.get("code")), _text(body.get("parameter"))
        params: dict[str, Any] = {k: v for k, v in (("code", code), ("parameter", parameter)) if v}
        if body.get("id"):
            params["error_id"] = str(body["id"])  # YooKassa support asks for it
        wait = body.get("retry_after")  # milliseconds, in a 202 body and in error objects
        if not isinstance(wait, int | float) or isinstance(wait, bool) or wait < 0:
            wait = None
        return ErrorDetail(
            code=code,
            message=_text(body.get("description")),
            retry_after_s=None if wait is None else wait / 1000,
            parameters=params,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, params = response.status_code, dict(detail.parameters)
        if status == 202:
            wait = detail.retry_after_s
            return PaymentProcessingError(
                call.message("HTTP 202: accepted, still processing; repeat with the same key"),
                retry_after_s=DEFAULT_PROCESSING_WAIT_S if wait is None else wait,
            )
        said = _said(status, detail)
        if status == 400 and str(params.get("parameter", "")).lower() == "idempotence-key":
            return PermanentError(
                call.message(
                    f"{said}; this Idempotence-Key was already used with different payment "
                    "data: send a changed payment as a new request"
                ),
                parameters=params,
            )
        if status == 400 and detail.code == "invalid_request":
            return InvalidConfigError(
                call.message(f"{said}; fix the action's config"), parameters=params
            )
        if status == 403:  # the keys are fine: the shop may not do this
            return PermanentError(
                call.message(f"{said}; ask YooKassa to enable this operation for the shop"),
                code=403,
                parameters=params,
            )
        return None


class YooKassaCredentials:
    """A shop's ``shopId`` and secret key, from ``{"shop_id": ..., "secret_key": ...}``."""

    __slots__ = ("secret_key", "shop_id")

    def __init__(self, shop_id: str, secret_key: str) -> None:
        self.shop_id = shop_id
        self.secret_key = secret_key

    @classmethod
    def parse(cls, creds: dict[str, Any]) -> YooKassaCredentials:
        shop_id = creds.get("shop_id")
        secret = creds.get("secret_key")
        if isinstance(shop_id, int) and not isinstance(shop_id, bool):
            shop_id = str(shop_id)
        if not isinstance(shop_id, str) or not shop_id or not isinstance(secret, str) or not secret:
            raise AuthError(
                "the bot's 'yookassa' credentials need 'shop_id' and 'secret_key'; store them as "
                '{"shop_id": "<shopId>", "secret_key": "<secret key from the YooKassa cabinet>"}'
            )
        return cls(shop_id, secret)

    @property
    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.shop_id, self.secret_key)


def idempotence_key(logger: BotLogger | None = None) -> str:
    """The request's ``Idempotence-Key``, at most ``MAX_KEY_CHARS`` characters (see
    :func:`integrations.context.provider_idempotency_key`)."""
    return provider_idempotency_key(
        max_chars=MAX_KEY_CHARS, header="Idempotence-Key", logger=logger
    )


class YooKassaIntegration(HttpIntegration, CredentialedIntegration[YooKassaCredentials]):
    """Base of the YooKassa actions: the shared httpx client, credentials, one JSON POST."""

    service: ClassVar[str] = "yookassa"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = YooKassa()
    # YooKassa may think for up to 30 s before answering 500 "unknown": wait longer than that.
    http_timeout_s: ClassVar[float] = 35.0

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> YooKassaCredentials | None:
        """The bot's shop credentials, or ``None`` when it has none."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="yookassa", strategy="basic")
        if not creds:
            return None
        parsed = YooKassaCredentials.parse(creds)
        logger.add_secret(parsed.secret_key)
        return parsed

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        creds: YooKassaCredentials,
        key: str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        """POST ``body`` as JSON with the ``Idempotence-Key``; the 200 body, or a typed error."""
        reply = await self.call(
            "POST", path, json=body, auth=creds.auth, headers={"Idempotence-Key": key},
            secrets=[creds.secret_key], what=f"POST /{path}", logger=logger,
        )  # fmt: skip
        return reply.body


def _said(status: int, detail: ErrorDetail) -> str:
    """What the answer said, as :func:`integrations.provider.status_error` words it."""
    code = f" {detail.code}" if detail.code else ""
    return f"HTTP {status}{code}: {detail.message or 'no message'}"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
