"""What YooKassa actions share: credentials, the ``Idempotence-Key``, the error mapping.

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

**Errors** (``external-apis.md`` §5.2):

=====================  ==============================  ==========================================
YooKassa answer        our error (code)                why
=====================  ==============================  ==========================================
202 + retry_after ms   PaymentProcessingError (202),   accepted, not finished: ask again with
                       a RateLimitedError              the same key after ``retry_after``
400 invalid_request    InvalidConfigError (400)        ``parameters.parameter`` names the field
400 on Idempotence-Key PermanentError (400)            the key was used with other data
400 not_supported      PermanentError (400)
401                    AuthError (401)                 shopId / secret key rejected
403 forbidden          PermanentError (403)            the shop may not do this; keys are fine
404 / 405 / 415        PermanentError
429 too_many_requests  RateLimitedError (429)          ``retry_after`` (ms) when the body has one
500                    OutcomeUnknownError (500)       outcome unknown: repeat with the same key
other 5xx              TransientError
connect error          TransientError (503)            not sent
timeout / cut          OutcomeUnknownError (504/502)   maybe created: the retry's same key dedupes
=====================  ==============================  ==========================================
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.context import request_context
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
    "DEFAULT_BASE_URL",
    "MAX_KEY_CHARS",
    "PaymentProcessingError",
    "YooKassaCredentials",
    "YooKassaIntegration",
    "credentials_not_found",
    "idempotence_key",
    "map_response_error",
    "map_transport_error",
]

DEFAULT_BASE_URL = "https://api.yookassa.ru/v3"
MAX_KEY_CHARS = 64
# No retry_after in a 202 body: the official SDK waits its timeout setting, 1800 ms by default.
DEFAULT_PROCESSING_WAIT_S = 1.8


def credentials_not_found() -> dict[str, Any]:
    """The seed's envelope for a bot without credentials for this service."""
    return fail(401, "Credentials not found")


class PaymentProcessingError(RateLimitedError):
    """HTTP 202: YooKassa accepted the request but has not finished processing it.

    Not a failure: the same request with the same ``Idempotence-Key`` must be sent again after
    ``retry_after_s``; it then returns the payment. A rate-limited error, so the processor waits
    exactly that long (it counts no failed attempt for a rate limit).
    """

    default_code = 202


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
    """The request's idempotency key, shortened to YooKassa's 64 characters if needed.

    Outside the processor (a unit test, a seed-style call) there is no request: a fresh UUID is
    used, which protects nothing across retries, so that is logged.
    """
    context = request_context()
    if context is None:
        if logger is not None:
            logger.warning("no request context: using a one-off Idempotence-Key")
        return str(uuid.uuid4())
    key = context.idempotency_key
    if len(key) > MAX_KEY_CHARS:
        key = hashlib.sha256(key.encode()).hexdigest()
    return key


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after_s(body: dict[str, Any]) -> float | None:
    value = body.get("retry_after")  # milliseconds, in a 202 body and in error objects
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return value / 1000
    return None


def map_response_error(response: httpx.Response) -> IntegrationError:
    """Our typed error for a non-200 YooKassa answer (see the module's table)."""
    status = response.status_code
    body = _json(response)
    code = body.get("code") if isinstance(body.get("code"), str) else None
    description = body.get("description") if isinstance(body.get("description"), str) else None
    parameter = body.get("parameter") if isinstance(body.get("parameter"), str) else None
    detail = description or response.reason_phrase or f"HTTP {status}"
    where = "YooKassa POST /payments"
    params: dict[str, Any] = {k: v for k, v in (("code", code), ("parameter", parameter)) if v}
    if body.get("id"):
        params["error_id"] = str(body["id"])  # YooKassa support asks for it

    if status == 202:
        wait = _retry_after_s(body)
        return PaymentProcessingError(
            f"{where}: accepted, still processing; repeat with the same Idempotence-Key",
            retry_after_s=DEFAULT_PROCESSING_WAIT_S if wait is None else wait,
        )
    if status == 429:
        return RateLimitedError(
            f"{where}: too many requests ({detail})",
            retry_after_s=_retry_after_s(body),
            parameters=params,
        )
    if status == 401:
        return AuthError(
            f"{where}: the shopId / secret key were rejected ({detail}); check this bot's "
            "'yookassa' credentials",
            parameters=params,
        )
    if status == 400:
        if parameter and parameter.lower() == "idempotence-key":
            return PermanentError(
                f"{where}: {detail}: this Idempotence-Key was already used with different "
                "payment data; send a changed payment as a new request",
                parameters=params,
            )
        if code == "invalid_request":
            field = f" (parameter {parameter})" if parameter else ""
            return InvalidConfigError(
                f"{where}: invalid request: {detail}{field}; fix the action's config",
                parameters=params,
            )
        return PermanentError(f"{where}: {code or 'bad request'}: {detail}", parameters=params)
    if status == 403:
        return PermanentError(
            f"{where}: forbidden: {detail}; the shop is not allowed this operation "
            "(ask YooKassa to enable it)",
            code=403,
            parameters=params,
        )
    if status == 500:
        return OutcomeUnknownError(
            f"{where}: internal error, the payment's outcome is unknown ({detail}); it will be "
            "repeated with the same Idempotence-Key",
            code=500,
            parameters=params,
        )
    if status >= 500:
        return TransientError(f"{where}: HTTP {status}: {detail}", code=status, parameters=params)
    return PermanentError(f"{where}: HTTP {status}: {detail}", code=status, parameters=params)


def map_transport_error(exc: httpx.TransportError) -> TransientError:
    """A transport failure; a retry is safe either way, the Idempotence-Key dedupes it."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(f"YooKassa: could not connect ({name}); nothing was sent", code=503)
    if isinstance(exc, httpx.TimeoutException):
        return OutcomeUnknownError(
            f"YooKassa: no answer in time ({name}); the payment may exist, the retry's "
            "Idempotence-Key returns it",
            code=504,
        )
    return OutcomeUnknownError(
        f"YooKassa: connection lost mid-request ({name}); the payment may exist, the retry's "
        "Idempotence-Key returns it",
        code=502,
    )


class YooKassaIntegration(HttpIntegration):
    """Base of the YooKassa actions: the shared httpx client, credentials, one JSON POST."""

    service: ClassVar[str] = "yookassa"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    # YooKassa may think for up to 30 s before answering 500 "unknown": wait longer than that.
    http_timeout_s: ClassVar[float] = 35.0

    async def credentials(
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
        self, path: str, body: dict[str, Any], creds: YooKassaCredentials, key: str
    ) -> dict[str, Any]:
        """POST ``body`` as JSON with the ``Idempotence-Key``; the 200 body, or a typed error."""
        try:
            response = await self.http.post(
                path, json=body, auth=creds.auth, headers={"Idempotence-Key": key}
            )
        except httpx.TransportError as exc:
            raise map_transport_error(exc) from None
        if response.status_code != 200:
            raise map_response_error(response)
        payload = _json(response)
        if not payload:
            raise TransientError("YooKassa: HTTP 200 without a JSON object body", code=502)
        return payload
