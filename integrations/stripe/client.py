"""What Stripe actions share: one ``StripeClient`` whose transport is the provider-call seam, the
``Idempotency-Key``, and Stripe's own answers.

**The SDK, async, over the seam.** stripe-python (16.x) has an async API
(``client.v1.<service>.create_async``) whose transport is a pluggable ``stripe.HTTPClient``.
:class:`SharedHttpxClient` implements it with :func:`integrations.provider.send` over the
``httpx.AsyncClient`` that :class:`~integrations.http.HttpClients` keeps for the ``stripe``
service, so a Stripe call is classified, scrubbed and gated like every other provider call (tests
point ``base_url`` at the fake; it becomes the SDK's ``base_addresses["api"]``). The SDK only
ever sees successes: the seam's typed errors pass through it untouched (it catches nothing but
its own ``APIConnectionError``, to retry it, and ``max_network_retries=0`` leaves retries and
back-off to the processor). One ``StripeClient`` serves every bot: the API key goes with each
call as a request option, and the transport scrubs it from messages.

**Idempotency.** Each create carries ``Idempotency-Key`` = the request's idempotency key
(:func:`integrations.context.request_context`), stable across our retries and redeliveries, so
Stripe replays the first answer instead of charging twice (keys live ≥24 h, ≤255 chars; longer
ones are replaced by their SHA-256).

**Errors** (``external-apis.md`` §5.1): the seam's table (:mod:`integrations.provider`), with
Stripe's body ``{"error": {"type", "code", "decline_code", "message", "param",
"payment_intent"}}`` in ``parameters`` (plus ``request_id``) and these answers of its own:

==========================  ============================  ======================================
Stripe answer               our error (code)              why
==========================  ============================  ======================================
400/404                     InvalidConfigError            ``parameters.param`` names the field
invalid_request_error
409 (key in flight), 424    TransientError                retry: the same key then replays
Stripe-Should-Retry: false  PermanentError                Stripe saved this answer for the key
on 409/424/5xx                                            and replays it: retrying cannot help
Stripe-Should-Retry: true   TransientError                Stripe says a retry may succeed
on another 4xx (not 401,
403, 429)
==========================  ============================  ======================================

A declined card (402 ``card_error``) is the table's PermanentError, labelled with its
``decline_code``; ``idempotency_error`` (the key was used with other parameters) is its 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, NoReturn
from uuid import UUID

import httpx
import stripe

from integrations.base import Category, CredentialsResolverLike, SideEffect
from integrations.bot_logger import BotLogger
from integrations.context import provider_idempotency_key
from integrations.credentials.fields import SecretField
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    TransientError,
)
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, send
from integrations.service import Service

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_KEY_CHARS",
    "STRIPE",
    "SharedHttpxClient",
    "Stripe",
    "StripeIntegration",
    "StripeKey",
    "idempotency_key",
]

STRIPE = Service("stripe", Category.PAYMENTS, "#635BFF", library="stripe")

DEFAULT_BASE_URL = "https://api.stripe.com"
MAX_KEY_CHARS = 255
# StripeClient insists on a key at construction; every call passes the bot's own key instead.
_NO_CLIENT_KEY = "sk_per_request"
_ERROR_FIELDS = ("type", "code", "decline_code", "param")
# Statuses whose meaning a Stripe-Should-Retry: true does not change (credentials, a rate limit).
_OWN_STATUS = frozenset({401, 403, 429})


class Stripe(Provider):
    """Stripe's answers: JSON objects; errors as ``{"error": {...}}`` (see the module's table)."""

    name = "Stripe"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return not 200 <= response.status_code < 300 or not isinstance(data, dict)

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        raw = data.get("error") if isinstance(data, dict) else None
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        params: dict[str, Any] = {
            name: error[name] for name in _ERROR_FIELDS if isinstance(error.get(name), str)
        }
        intent = error.get("payment_intent")
        if isinstance(intent, dict) and isinstance(intent.get("id"), str):
            params["payment_intent"] = intent["id"]
        if request_id := response.headers.get("request-id"):
            params["request_id"] = request_id
        code = params.get("decline_code") or params.get("code") or params.get("type")
        message = error.get("message") if isinstance(error.get("message"), str) else None
        return ErrorDetail(code=code or None, message=message or None, parameters=params)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, params = response.status_code, dict(detail.parameters)
        said = _said(status, detail)
        retry = {"true": True, "false": False}.get(
            response.headers.get("stripe-should-retry", "").lower()
        )
        if status in (400, 404) and params.get("type") == "invalid_request_error":
            return InvalidConfigError(
                call.message(f"{said}; fix the action's config"), code=status, parameters=params
            )
        if retry is False and (status in (409, 424) or status >= 500):
            return PermanentError(
                call.message(f"{said} (Stripe-Should-Retry: false, Stripe replays it)"),
                code=status,
                parameters=params,
            )
        if status in (409, 424) or (retry and 400 <= status < 500 and status not in _OWN_STATUS):
            return TransientError(call.message(said), code=status, parameters=params)
        return None


class SharedHttpxClient(stripe.HTTPClient):
    """stripe-python's transport: :func:`integrations.provider.send` over a shared client.

    Async calls only. It never closes the client (``HttpClients`` owns it) and never retries
    (the processor does). An error answer or a failed send raises the seam's typed error, with
    the request's API key (from its ``Authorization`` header) scrubbed from the message.
    """

    name = "actionstream-httpx"
    provider: ClassVar[Provider] = Stripe()

    def __init__(self, http: httpx.AsyncClient, *, writes: bool) -> None:
        super().__init__()
        self.http = http
        self.writes = writes

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("SharedHttpxClient is async-only; use the SDK's *_async methods")

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("SharedHttpxClient is async-only; use the SDK's *_async methods")

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        key = headers.get("Authorization", "").removeprefix("Bearer ")
        what = f"{method.upper()} {httpx.URL(url).path}"  # never the query: it may hold ids
        reply = await send(
            self.http, self.provider, method, url, writes=self.writes, secrets=[key], what=what,
            headers=dict(headers), content=post_data,
        )  # fmt: skip
        return reply.response.content, reply.response.status_code, reply.response.headers

    async def request_stream_async(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("streaming Stripe responses is not supported here")

    async def close_async(self) -> None:
        """Nothing to do: the shared client is closed by ``HttpClients.aclose()``."""

    def close(self) -> None:
        """Nothing to do, as for :meth:`close_async`."""

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)


def idempotency_key(logger: BotLogger | None = None) -> str:
    """The request's ``Idempotency-Key``, at most ``MAX_KEY_CHARS`` characters (see
    :func:`integrations.context.provider_idempotency_key`)."""
    return provider_idempotency_key(
        max_chars=MAX_KEY_CHARS, header="Idempotency-Key", logger=logger
    )


class StripeKey(SecretField):
    """The bot's Stripe key, which must be a secret (``sk_``) or restricted (``rk_``) key: a
    publishable ``pk_`` key is refused before any call (Stripe would answer 401 anyway)."""

    __slots__ = ()

    async def read(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        key = await super().read(resolver, bot_id, logger)
        if key is not None and not key.startswith(("sk_", "rk_")):
            raise AuthError(
                f"the bot's {self.provider!r} credentials need 'api_key', a secret (sk_...) or "
                f"restricted (rk_...) key; store them as {self.example}"
            )
        return key


class StripeIntegration(KeyedHttpIntegration):
    """Base of the Stripe actions: a ``StripeClient`` over the seam, and the bot's key."""

    service: ClassVar[str] = "stripe"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    secret = StripeKey(provider="stripe", fields=("api_key",), example='{"api_key": "sk_live_..."}')
    http_timeout_s: ClassVar[float] = 30.0

    _stripe: tuple[httpx.AsyncClient, stripe.StripeClient] | None = None

    @property
    def stripe_client(self) -> stripe.StripeClient:
        """The ``StripeClient`` bound to this loop's shared httpx client (built on first use)."""
        http = self.http
        if self._stripe is None or self._stripe[0] is not http:
            writes = self.metadata.side_effect is not SideEffect.NONE
            client = stripe.StripeClient(
                _NO_CLIENT_KEY,
                base_addresses={"api": self.clients.base_url(self.service, DEFAULT_BASE_URL)},
                http_client=SharedHttpxClient(http, writes=writes),
                max_network_retries=0,
            )
            self._stripe = (http, client)
        return self._stripe[1]


def _said(status: int, detail: ErrorDetail) -> str:
    """What the answer said, as :func:`integrations.provider.status_error` words it."""
    code = f" {detail.code}" if detail.code else ""
    return f"HTTP {status}{code}: {detail.message or 'no message'}"
