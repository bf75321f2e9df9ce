"""The HTTP seam of integrations that call a service with httpx.

One ``httpx.AsyncClient`` per service, shared by all its actions and bots, built from settings
(``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__<SERVICE>__BASE_URL`` overrides the service's public URL,
which is how tests point an integration at a fake on 127.0.0.1). The worker builds one
:class:`HttpClients` at start-up and hands it to every :class:`HttpIntegration` (through
:class:`~integrations.resources.Resources`); a seed-style ``SomeIntegration()`` used on its own
calls the service's public endpoint, and reads no environment.

Every request these clients send during an execution carries the request's W3C ``traceparent``
(from :func:`~integrations.context.request_context`), so provider calls join the caller's trace,
and passes the processor's send gate first (:func:`~integrations.context.before_send`).

Actions send through :meth:`HttpIntegration.call`, the provider-call seam of
:mod:`integrations.provider` (typed errors, Retry-After, scrubbing); only an SDK that takes an
``http_client=`` is handed :attr:`HttpIntegration.http` itself.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import httpx

from integrations import spans
from integrations.base import BaseIntegration, CredentialsResolverLike, SideEffect
from integrations.bot_logger import BotLogger
from integrations.context import before_send, request_context
from integrations.credentialed import CredentialedIntegration
from integrations.credentials.fields import SecretField
from integrations.egress import EgressPolicy, guarded_transport
from integrations.provider import MAX_RESPONSE_BYTES, Provider, Reply, send
from integrations.settings import EndpointSettings, IntegrationSettings

if TYPE_CHECKING:
    from integrations.resources import Resources

DEFAULT_TIMEOUT_S = 30.0


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps nothing: a provider's cookie must not follow one bot into another's call."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


_NO_COOKIES = _NoCookies()


def current_traceparent() -> str | None:
    """The ``traceparent`` of the request being executed, if it has one."""
    context = request_context()
    return context.traceparent if context is not None else None


async def gate_and_trace(request: httpx.Request) -> None:
    """httpx request hook: pass the send gate, then add the request's ``traceparent``."""
    await before_send()
    traceparent = current_traceparent()
    if traceparent and "traceparent" not in request.headers:
        request.headers["traceparent"] = traceparent


_REFRESHER_CLIENT = " oauth"  # not a service name (those are identifiers)


class HttpClients:
    """One pooled ``httpx.AsyncClient`` per service; close once, at shutdown.

    No client keeps cookies (one jar would be shared by every bot). A service whose URLs come
    from tenants (``tenant_urls``) connects only where ``egress`` allows
    (:mod:`integrations.egress`).
    """

    def __init__(
        self,
        endpoints: Mapping[str, EndpointSettings] | None = None,
        *,
        max_connections: int = 512,
        transport: httpx.AsyncBaseTransport | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self._endpoints = dict(endpoints or {})
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._transport = transport
        self._egress = egress if egress is not None else EgressPolicy()
        self._clients: dict[str, httpx.AsyncClient] = {}

    @classmethod
    def from_settings(
        cls, settings: IntegrationSettings, *, deny_hosts: Iterable[str] = ()
    ) -> HttpClients:
        """Clients from settings; ``deny_hosts`` are the deployment's own (never reached)."""
        egress = EgressPolicy.from_settings(settings.egress, deny_hosts=deny_hosts)
        return cls(settings.endpoints, max_connections=settings.max_connections, egress=egress)

    def base_url(self, service: str, default: str) -> str:
        endpoint = self._endpoints.get(service)
        return endpoint.base_url if endpoint and endpoint.base_url else default

    def client(
        self,
        service: str,
        default_base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        tenant_urls: bool = False,
    ) -> httpx.AsyncClient:
        """The service's client, created on first use (``tenant_urls``: egress-checked)."""
        client = self._clients.get(service)
        if client is None:
            endpoint = self._endpoints.get(service)
            if endpoint is not None and endpoint.timeout_s is not None:
                timeout_s = endpoint.timeout_s
            transport = self._transport
            if transport is None and tenant_urls:
                transport = guarded_transport(self._egress, limits=self._limits)
            if spans.enabled():  # a CLIENT span per provider request
                inner = transport or httpx.AsyncHTTPTransport(limits=self._limits)
                transport = spans.traced_transport(inner)
            client = httpx.AsyncClient(
                base_url=self.base_url(service, default_base_url),
                timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
                limits=self._limits,
                transport=transport,
                headers={"User-Agent": "actionstream"},
                cookies=_NO_COOKIES,
                event_hooks={"request": [gate_and_trace]},
            )
            self._clients[service] = client
        return client

    def token_urls(self) -> dict[str, str]:
        """``EndpointSettings.token_url`` by service: where OAuth tokens are asked for instead."""
        return {name: e.token_url for name, e in self._endpoints.items() if e.token_url}

    def token_client(self) -> httpx.AsyncClient:
        """The client OAuth token endpoints are reached with: egress-checked (AmoCRM's is on the
        tenant's own host), and outside any action's send gate (a token is not the action's
        call)."""
        client = self._clients.get(_REFRESHER_CLIENT)
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, connect=5.0),
                transport=self._transport or guarded_transport(self._egress, limits=self._limits),
                headers={"User-Agent": "actionstream"},
                cookies=_NO_COOKIES,
            )
            self._clients[_REFRESHER_CLIENT] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


class HttpIntegration(BaseIntegration):
    """Base for an action that calls ``service`` over HTTP.

    Subclasses set ``service`` (the endpoint settings key, usually the credentials provider),
    ``default_base_url``, ``provider`` (how the service answers errors) and implement
    ``metadata`` and ``execute``, sending with :meth:`call`.
    """

    calls_through_seams: ClassVar[bool] = True

    service: ClassVar[str]
    default_base_url: ClassVar[str]
    provider: ClassVar[Provider] = Provider()
    http_timeout_s: ClassVar[float] = DEFAULT_TIMEOUT_S
    #: The service's URLs come from the bot's credentials or config (a self-hosted portal):
    #: its client connects only where the egress policy allows.
    tenant_urls: ClassVar[bool] = False
    #: The largest answer read from the service (raise it for an action that downloads files).
    max_response_bytes: ClassVar[int] = MAX_RESPONSE_BYTES

    def __init__(self, clients: HttpClients | None = None) -> None:
        self._clients = clients
        self._fallback: dict[int, HttpClients] = {}

    def configure(self, clients: HttpClients) -> None:
        """Use ``clients`` from now on (by hand; the worker calls :meth:`bind`)."""
        self._clients = clients

    def bind(self, resources: Resources) -> None:
        self.configure(resources.http)

    @property
    def clients(self) -> HttpClients:
        if self._clients is not None:
            return self._clients
        # Seed-style use without a worker: the service's public endpoint (nothing reads the
        # environment; bind Resources to point it elsewhere), one set of clients per event loop
        # because an httpx client cannot move between loops.
        loop = id(asyncio.get_running_loop())
        fallback = self._fallback.get(loop)
        if fallback is None:
            fallback = self._fallback[loop] = HttpClients()
        return fallback

    async def call(
        self,
        method: str,
        url: str,
        *,
        secrets: Iterable[object] = (),
        what: str | None = None,
        logger: BotLogger | None = None,
        **kwargs: Any,
    ) -> Reply:
        """Send one request to the service through :func:`integrations.provider.send`.

        A timeout or a cut connection is "maybe executed" unless the action has no side effect.
        """
        return await send(
            self.http, self.provider, method, url,
            writes=self.metadata.side_effect is not SideEffect.NONE,
            secrets=secrets, what=what, logger=logger, max_bytes=self.max_response_bytes,
            **kwargs,
        )  # fmt: skip

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared client for this integration's service (for an SDK's ``http_client=``)."""
        return self.clients.client(
            self.service,
            self.default_base_url,
            timeout_s=self.http_timeout_s,
            tenant_urls=self.tenant_urls,
        )

    async def aclose(self) -> None:
        """Close fallback clients (the worker closes its shared ones itself)."""
        fallbacks, self._fallback = list(self._fallback.values()), {}
        for clients in fallbacks:
            await clients.aclose()


class KeyedHttpIntegration(HttpIntegration, CredentialedIntegration[str]):
    """An HTTP action authenticated by one secret of the bot's credentials (a key or token).

    Subclasses declare ``secret`` (where it lives) and implement :meth:`run` with the key; a
    bot without the credentials gets the seed's 401 envelope, and the secret is never logged.
    """

    secret: ClassVar[SecretField]

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        return await self.secret.read(resolver, bot_id, logger)
