"""What Stripe actions share: one ``StripeClient`` over the service's httpx client, the
``Idempotency-Key``, and the mapping of stripe-python's errors to ours.

**The SDK, async.** stripe-python (16.x) has an async API (``client.v1.<service>.create_async``)
whose transport is a pluggable ``stripe.HTTPClient``. :class:`SharedHttpxClient` implements it
over the ``httpx.AsyncClient`` that :class:`~integrations.http.HttpClients` keeps for the
``stripe`` service, so Stripe calls share one connection pool and the endpoint settings (tests
point ``base_url`` at the fake; it becomes the SDK's ``base_addresses["api"]``). One
``StripeClient`` serves every bot: the API key goes with each call as a request option, so no
client is built per key. ``max_network_retries=0``: the processor owns retries and back-off.

**Idempotency.** Each create carries ``Idempotency-Key`` = the request's idempotency key
(:func:`integrations.context.request_context`), stable across our retries and redeliveries, so
Stripe replays the first answer instead of charging twice (keys live ≥24 h, ≤255 chars; longer
ones are replaced by their SHA-256).

**Errors** (``external-apis.md`` §5.1). ``Stripe-Should-Retry`` decides 409/424/5xx when present:

=========================  ============================  =======================================
stripe-python error        our error (code)              why
=========================  ============================  =======================================
CardError (402)            PermanentError (402)          declined; ``code``, ``decline_code``
RateLimitError (429)       RateLimitedError (429)        Stripe sends no Retry-After
AuthenticationError (401)  AuthError (401)               bad or revoked key
PermissionError (403)      AuthError (403)               a restricted key lacking this right
IdempotencyError (400)     PermanentError (400)          the key was used with other params
InvalidRequestError (400)  InvalidConfigError (400/404)  ``parameters.param`` names the field
APIError 409               TransientError (409)          same key in flight: retry, it replays
APIError 424 / 5xx         TransientError                ... unless Stripe-Should-Retry: false,
                           / PermanentError              then Stripe replays it: permanent
APIConnectionError         TransientError (503) when     the same key makes the retry safe
                           not sent, else
                           OutcomeUnknownError (504)     (502 for a cut connection)
=========================  ============================  =======================================
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, NoReturn
from uuid import UUID

import httpx
import stripe

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
    "SharedHttpxClient",
    "StripeIntegration",
    "credentials_not_found",
    "idempotency_key",
    "map_stripe_error",
]

DEFAULT_BASE_URL = "https://api.stripe.com"
MAX_KEY_CHARS = 255
# StripeClient insists on a key at construction; every call passes the bot's own key instead.
_NO_CLIENT_KEY = "sk_per_request"


def credentials_not_found() -> dict[str, Any]:
    """The seed's envelope for a bot without credentials for this service."""
    return fail(401, "Credentials not found")


class SharedHttpxClient(stripe.HTTPClient):
    """stripe-python's transport over a shared ``httpx.AsyncClient`` (async calls only).

    It never closes the client (``HttpClients`` owns it) and never retries (the processor does).
    Transport failures become ``stripe.APIConnectionError`` as the SDK expects, with the httpx
    exception as ``__cause__``.
    """

    name = "actionstream-httpx"

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__()
        self.http = http

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("SharedHttpxClient is async-only; use the SDK's *_async methods")

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("SharedHttpxClient is async-only; use the SDK's *_async methods")

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self.http.request(
                method, url, headers=dict(headers), content=post_data
            )
        except httpx.HTTPError as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Stripe: {type(exc).__name__} talking to the API", should_retry=True
            ) from exc
        return response.content, response.status_code, response.headers

    async def request_stream_async(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("streaming Stripe responses is not supported here")

    async def close_async(self) -> None:
        """Nothing to do: the shared client is closed by ``HttpClients.aclose()``."""

    def close(self) -> None:
        """Nothing to do, as for :meth:`close_async`."""

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)


def idempotency_key(logger: BotLogger | None = None) -> str:
    """The request's idempotency key (SHA-256 when over 255 chars); a one-off UUID, logged,
    outside the processor."""
    context = request_context()
    if context is None:
        if logger is not None:
            logger.warning("no request context: using a one-off Idempotency-Key")
        return str(uuid.uuid4())
    key = context.idempotency_key
    if len(key) > MAX_KEY_CHARS:
        key = hashlib.sha256(key.encode()).hexdigest()
    return key


def _should_retry(exc: stripe.StripeError) -> bool | None:
    value = (exc.headers or {}).get("stripe-should-retry")
    return {"true": True, "false": False}.get(str(value).lower()) if value is not None else None


def _details(exc: stripe.StripeError) -> dict[str, Any]:
    """The parts of Stripe's error object worth publishing (no secrets in any of them)."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    raw = body.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    details: dict[str, Any] = {
        name: error[name]
        for name in ("type", "code", "decline_code", "param")
        if isinstance(error.get(name), str) and error[name]
    }
    intent = error.get("payment_intent")
    if isinstance(intent, dict) and isinstance(intent.get("id"), str):
        details["payment_intent"] = intent["id"]
    if exc.request_id:
        details["request_id"] = exc.request_id
    return details


def map_stripe_error(exc: stripe.StripeError, *, operation: str) -> IntegrationError:
    """Our typed error for a stripe-python exception raised by ``operation`` (see the table).

    Messages are built from Stripe's error fields; stripe-python's own text for a 401 echoes
    the (masked) key, so it is not used there.
    """
    where = f"Stripe {operation}"
    status = exc.http_status
    details = _details(exc)
    detail = exc.user_message or type(exc).__name__
    retry = _should_retry(exc)

    if isinstance(exc, stripe.CardError):
        reason = details.get("decline_code") or details.get("code") or "card_error"
        return PermanentError(
            f"{where}: card declined ({reason}): {detail}", code=402, parameters=details
        )
    if isinstance(exc, stripe.RateLimitError):
        return RateLimitedError(f"{where}: rate limited ({detail})", parameters=details)
    if isinstance(exc, stripe.AuthenticationError):
        return AuthError(
            f"{where}: the API key was rejected (401); check this bot's 'stripe' credentials",
            parameters=details,
        )
    if isinstance(exc, stripe.PermissionError):
        return AuthError(
            f"{where}: the API key may not do this (403): {detail}; use a key with this permission",
            code=403,
            parameters=details,
        )
    if isinstance(exc, stripe.IdempotencyError):
        return PermanentError(
            f"{where}: {detail}; this Idempotency-Key was used with different parameters, send a "
            "changed payment as a new request",
            parameters=details,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        param = details.get("param")
        field = f" (param {param})" if param else ""
        return InvalidConfigError(
            f"{where}: invalid request{field}: {detail}; fix the action's config",
            code=status or 400,
            parameters=details,
        )
    if isinstance(exc, stripe.APIConnectionError):
        cause = exc.__cause__
        not_sent = isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        timed_out = isinstance(cause, httpx.TimeoutException) and not not_sent
        name = type(cause).__name__ if cause is not None else "connection error"
        if not_sent:
            return TransientError(f"{where}: {name}; nothing was sent", code=503)
        return OutcomeUnknownError(
            f"{where}: {name}; the retry's Idempotency-Key returns any result",
            code=504 if timed_out else 502,
        )
    if status is not None and (status == 409 or status == 424 or status >= 500):
        if retry is False:
            # Stripe saved this answer for the key and will replay it: retrying cannot help.
            return PermanentError(
                f"{where}: HTTP {status}: {detail} (Stripe-Should-Retry: false)",
                code=status,
                parameters=details,
            )
        what = "a request with this Idempotency-Key is in flight" if status == 409 else detail
        return TransientError(f"{where}: HTTP {status}: {what}", code=status, parameters=details)
    if retry is True:
        return TransientError(
            f"{where}: HTTP {status}: {detail}", code=status or 503, parameters=details
        )
    return PermanentError(
        f"{where}: HTTP {status}: {detail}", code=status or 400, parameters=details
    )


class StripeIntegration(HttpIntegration):
    """Base of the Stripe actions: a ``StripeClient`` over the shared httpx client, and the key."""

    service: ClassVar[str] = "stripe"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    http_timeout_s: ClassVar[float] = 30.0

    _stripe: tuple[httpx.AsyncClient, stripe.StripeClient] | None = None

    @property
    def stripe_client(self) -> stripe.StripeClient:
        """The ``StripeClient`` bound to this loop's shared httpx client (built on first use)."""
        http = self.http
        if self._stripe is None or self._stripe[0] is not http:
            client = stripe.StripeClient(
                _NO_CLIENT_KEY,
                base_addresses={"api": self.clients.base_url(self.service, DEFAULT_BASE_URL)},
                http_client=SharedHttpxClient(http),
                max_network_retries=0,
            )
            self._stripe = (http, client)
        return self._stripe[1]

    async def api_key(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The bot's secret (or restricted) key, or ``None`` when it has no Stripe credentials."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider="stripe", strategy="api_key")
        if not creds:
            return None
        key = creds.get("api_key")
        if not isinstance(key, str) or not key.startswith(("sk_", "rk_")):
            raise AuthError(
                "the bot's 'stripe' credentials need 'api_key', a secret (sk_...) or restricted "
                '(rk_...) key; store them as {"api_key": "sk_live_..."}'
            )
        logger.add_secret(key)
        return key
