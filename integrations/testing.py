"""The shared base of the catalogue's test doubles: a real aiohttp server on loopback.

Each ``integrations/<service>/testing.py`` subclasses :class:`FakeServer`, adds its routes in
:meth:`FakeServer.routes`, and records what its tests read of a request in a ``RecordedCall``
(a :class:`BaseCall`) and its own faults in an ``Injection`` (a :class:`BaseInjection`). The
lifecycle (``async with`` or ``start()``/``close()``), the ``calls`` list, the injection queue,
``clear()`` and :attr:`FakeServer.base_url` live here. So do the faults every service shares,
answered before the service's own handler runs (:meth:`FakeServer.fail_next`,
:meth:`FakeServer.drop_next`, :meth:`FakeServer.stall_next`), every request the server saw
(:attr:`FakeServer.requests`), and the :class:`ContractSubject` through which
``tests/integrations/test_contract.py`` drives every registered integration against its fake::

    Injection = BaseInjection[FaultKind]

    class FakeThing(FakeServer[RecordedCall, Injection]):
        api_path = "/v1"

        def routes(self, app: web.Application) -> None:
            app.router.add_get("/v1/thing", self._handle)

        def inject(self, kind: FaultKind, *, times: int | None = 1) -> Injection:
            return self.queue(Injection(kind=kind, remaining=times))

        async def _handle(self, request: web.Request) -> web.StreamResponse:
            if (injection := self.take_injection()) is not None:
                ...

The socket is bound here (``SO_REUSEADDR``), so ``port=0`` gives a free port, read back into
``port`` before the server answers; no access log (it would dominate the cost in benchmarks).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, Self, TypeVar

from aiohttp import web

from integrations.credentials.testing import Grant, TokenGrants
from integrations.egress import EgressSettings
from integrations.errors import OutcomeCategory
from integrations.settings import EndpointSettings, IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.wire_tap import TappedSite

__all__ = [
    "BaseCall",
    "BaseInjection",
    "BearerCall",
    "ContractSubject",
    "FakeServer",
    "Fault",
    "OAuthFakeServer",
    "Queued",
    "RollingWindow",
    "SeenRequest",
]


KindT = TypeVar("KindT", bound=str)


@dataclass(slots=True, kw_only=True)
class BaseCall:
    """A request a fake's handler received: its headers, when, and the status answered.

    A service's ``RecordedCall`` subclasses it with what its tests read of a request.
    """

    headers: dict[str, str] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    status: int = 0


@dataclass(slots=True, kw_only=True)
class BaseInjection(Generic[KindT]):
    """A fault of the service's own ``kind`` for the next ``remaining`` requests its handler
    gets (``None``: all of them); ``hits`` counts its uses. Subclasses add its parameters."""

    kind: KindT
    remaining: int | None = 1
    hits: int = 0


class Queued(Protocol):
    """What the injection queue needs of an injection: how many uses are left, and a counter."""

    remaining: int | None  # None: forever
    hits: int


#: The egress exception every test of a tenant-URL service needs: its fake is on loopback.
LOOPBACK = EgressSettings(allow=["127.0.0.1"])

CallT = TypeVar("CallT")
InjectionT = TypeVar("InjectionT", bound=Queued)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as the server received it (its body is the service's handler's to read)."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass(slots=True)
class Fault:
    """A failure answered before the service's handler: a status, a dropped connection, a stall.

    ``status`` with ``body`` (bytes as they are, anything else as JSON) and ``headers`` is sent
    as it is; ``status`` alone is answered in the service's own error shape
    (:meth:`FakeServer.error_response`). ``delay_s`` waits first, ``drop`` closes the connection
    without an answer.
    """

    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None
    delay_s: float = 0.0
    drop: bool = False
    remaining: int | None = 1
    hits: int = 0


class FakeServer(Generic[CallT, InjectionT]):
    """A fake HTTP service on ``host:port`` (port 0: a free one), started by ``async with``."""

    #: ``listen()`` backlog of the socket (aiohttp's default: 128).
    backlog = 128
    #: ``web.Application(client_max_size=...)``: the largest request body accepted.
    client_max_size = 1024**2

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, keep_wire: bool = False) -> None:
        self.host = host
        self.port = port
        self.keep_wire = keep_wire
        #: With ``keep_wire``: each connection's bytes as they arrived (integrations.wire_tap).
        self.wire: list[bytearray] = []
        self.calls: list[CallT] = []
        #: Every request the server received, faulted ones included.
        self.requests: list[SeenRequest] = []
        self._injections: list[InjectionT] = []
        self._faults: list[Fault] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the service's handlers to ``app`` (called by :meth:`start`)."""
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=self.client_max_size, middlewares=[self._shared])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        # Bind the socket ourselves so port 0 gives a free port we can read back.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        if self.keep_wire:
            await TappedSite(self._runner, sock, wire=self.wire, backlog=self.backlog).start()
        else:
            await web.SockSite(self._runner, sock, backlog=self.backlog).start()

    async def close(self) -> None:
        self._closing.set()  # wake delayed answers so shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    #: The path the service's API lives under (Dropbox's ``/2``), appended in :attr:`base_url`.
    api_path = ""

    @property
    def url(self) -> str:
        """``http://<host>:<port>``, where the server listens."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the service's endpoint setting takes (``EndpointSettings(base_url=...)``)."""
        return self.url + self.api_path

    # -- injections ------------------------------------------------------------------------------

    def queue(self, injection: InjectionT) -> InjectionT:
        """Add ``injection`` to the queue (after the ones already there); returns it."""
        self._injections.append(injection)
        return injection

    def take_injection(
        self, match: Callable[[InjectionT], bool] | None = None
    ) -> InjectionT | None:
        """The first live injection (``remaining`` None or > 0) that ``match``es, used once:
        ``hits`` goes up and ``remaining`` down. None when there is none."""
        for injection in self._injections:
            alive = injection.remaining is None or injection.remaining > 0
            if alive and (match is None or match(injection)):
                injection.hits += 1
                if injection.remaining is not None:
                    injection.remaining -= 1
                return injection
        return None

    def clear(self) -> None:
        """Forget calls, requests, faults and injections (subclasses also reset their own)."""
        self.calls.clear()
        self.requests.clear()
        self._injections.clear()
        self._faults.clear()

    # -- faults every service shares -------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_after_s: float | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Answer the next ``times`` requests with ``status`` (in the service's error shape
        unless ``body`` is given), before the service's handler sees them."""
        fault = Fault(status, body, dict(headers or {}), retry_after_s, remaining=times)
        self._faults.append(fault)
        return fault

    def drop_next(self, *, times: int | None = 1) -> Fault:
        """Close the connection of the next ``times`` requests without answering."""
        fault = Fault(drop=True, remaining=times)
        self._faults.append(fault)
        return fault

    def stall_next(self, seconds: float, *, times: int | None = 1) -> Fault:
        """Hold the next ``times`` requests ``seconds`` (or until close) before handling them."""
        fault = Fault(delay_s=seconds, remaining=times)
        self._faults.append(fault)
        return fault

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """An error answer in the service's own shape; override it where the shape differs.

        The default: ``{"error": {"code": status, "message": message}}`` with ``Retry-After``.
        """
        body = {"error": {"code": status, "message": message}}
        return web.json_response(body, status=status, headers=self.retry_after(retry_after_s))

    @staticmethod
    def retry_after(seconds: float | None) -> dict[str, str]:
        """``{"Retry-After": seconds}``, or no header for ``None``."""
        return {} if seconds is None else {"Retry-After": f"{seconds:g}"}

    @web.middleware
    async def _shared(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # The body is left unread: multipart handlers read it from the stream themselves.
        self.requests.append(SeenRequest(request.method, request.path, dict(request.headers)))
        fault = self._take_fault()
        if fault is None:
            return await handler(request)
        if fault.delay_s:
            await self.wait_unless_closing(fault.delay_s)
        if fault.drop:
            return self.disconnect(request)
        if fault.status is None:
            return await handler(request)
        if fault.body is None and not fault.headers:
            return self.error_response(
                fault.status, f"injected HTTP {fault.status}", retry_after_s=fault.retry_after_s
            )
        raw = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body).encode()
        return web.Response(status=fault.status, body=raw, headers=dict(fault.headers))

    def _take_fault(self) -> Fault | None:
        for fault in self._faults:
            if fault.remaining is None or fault.remaining > 0:
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    # -- helpers for handlers --------------------------------------------------------------------

    async def wait_unless_closing(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server is closing (so shutdown does not wait)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    @staticmethod
    def disconnect(request: web.Request) -> web.Response:
        """Close the connection without answering; the response returned never reaches it."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)


def bracket_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Decode bracketed form fields (Stripe's and Bitrix24's encoding), values kept as text:
    ``fields[PHONE][0][VALUE]=1`` → ``{"fields": {"PHONE": [{"VALUE": "1"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for i, part in enumerate(parts):
            name = str(len(node)) if part == "[]" else part
            if i == len(parts) - 1:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    decoded: dict[str, Any] = _lists(root)
    return decoded


def _lists(node: object) -> Any:
    """Dicts whose keys are all digits become lists, in index order."""
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


@dataclass(frozen=True)
class ContractSubject:
    """What the contract suite needs to run one service's integrations against its fake.

    ``fake`` builds a fresh fake server; ``credentials`` are what a bot stores for ``service``
    (its credentials provider and endpoint key) and the fake accepts; ``configs`` gives a valid
    config per integration id. ``forbidden`` is what the service's 403 means (credentials, by
    default).
    """

    service: str
    fake: Callable[[], FakeServer[Any, Any]]
    credentials: Mapping[str, Any]
    configs: Mapping[str, dict[str, Any]]
    forbidden: OutcomeCategory = OutcomeCategory.AUTH
    credentials_optional: bool = False
    """The service also answers without credentials (openFDA's anonymous quota)."""
    invalid_configs: Mapping[str, Sequence[tuple[dict[str, Any], str]]] = field(
        default_factory=dict
    )
    """Per integration id, configs its schema must refuse and a word the message must name
    (the field, or ``$`` for the object): the contract checks each before any call."""
    error_answer_executed: bool | None = None
    """For a 500 in the service's own error shape: whether the action may have run. ``None``:
    exactly when it writes; ``False`` where the provider says such an answer did nothing."""

    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        """Settings pointing the service at the fake's ``url`` (its :attr:`FakeServer.base_url`),
        with a short timeout; loopback is allowed explicitly for services whose URLs come from
        tenants (the egress policy)."""
        endpoint = EndpointSettings(base_url=url, timeout_s=timeout_s)
        integrations = IntegrationSettings(endpoints={self.service: endpoint}, egress=LOOPBACK)
        return integrations, TelegramSettings()


# -- fakes of OAuth-protected APIs ----------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class BearerCall(BaseCall):
    """A JSON request to an OAuth-protected fake API: its path, bearer token and parsed body."""

    path: str
    token: str | None
    body: Any


class RollingWindow:
    """At most ``limit`` requests in any ``period_s`` (a fake's provider-side rate limit)."""

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self._seen: collections.deque[float] = collections.deque()

    def take(self) -> int | None:
        """Count one request: how many remain in the window, or ``None`` when it is full."""
        now = time.monotonic()
        while self._seen and self._seen[0] <= now - self.period_s:
            self._seen.popleft()
        if len(self._seen) >= self.limit:
            return None
        self._seen.append(now)
        return self.limit - len(self._seen)

    def clear(self) -> None:
        self._seen.clear()


class OAuthFakeServer(FakeServer[BearerCall, InjectionT]):
    """A fake whose API takes OAuth access tokens, with its provider's token endpoint state.

    ``grants`` (:class:`~integrations.credentials.testing.TokenGrants`) issues, expires,
    rotates (``rotate``) and revokes tokens; the service's token route answers with
    ``self.grants.answer(form)`` in its provider's shape and keeps the form in ``token_calls``.
    ``tokens`` are static access tokens (a private app's), valid forever. ``token_lifetime_s``:
    the life of issued access tokens; ``clock``: "now" for their expiry (tests move it).
    ``rate_limit=(max, period_s)``: a :class:`RollingWindow` over API calls (``window``).
    The API route is :meth:`serve`, which records the call and answers with :meth:`answer`.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (),
        token_lifetime_s: float = 3600.0,
        rotate: bool = False,
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.tokens = set(tokens)
        self.grants = TokenGrants(lifetime_s=token_lifetime_s, rotate=rotate, clock=clock)
        self.window = RollingWindow(*rate_limit) if rate_limit is not None else None
        self.token_calls: list[dict[str, Any]] = []

    def grant(self, client_id: str, client_secret: str, **options: Any) -> Grant:
        """Authorise an app (an account's owner installed it), optionally with a live token
        (``refresh_token=``, ``access_token=``, ``expires_in=``: see ``TokenGrants.grant``)."""
        return self.grants.grant(client_id, client_secret, **options)

    def revoke(self) -> None:
        """Every grant is gone: later refreshes are refused as the provider refuses a dead one."""
        self.grants.revoke()

    @property
    def refreshes(self) -> int:
        """Successful refresh_token grants so far."""
        return self.grants.refreshes

    @property
    def reused(self) -> int:
        """Refresh tokens presented again after rotation spent them (what bricks a credential)."""
        return self.grants.reused

    def authorised(self, token: str | None) -> bool:
        """Whether an API call with ``token`` is authorised now (static, or issued and alive)."""
        return token is not None and (token in self.tokens or self.grants.valid(token))

    def clear(self) -> None:
        """Forget calls, token calls, faults and injections (grants and tokens stay)."""
        super().clear()
        self.token_calls.clear()
        if self.window is not None:
            self.window.clear()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The API route: record the request as a :class:`BearerCall` (body ``None`` when not
        JSON), then answer it with :meth:`answer`."""
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        try:
            body = await request.json()
        except ValueError:
            body = None
        call = BearerCall(path=request.path, headers=dict(request.headers), token=token, body=body)
        self.calls.append(call)
        response = self.answer(call)
        call.status = response.status
        return response

    def answer(self, call: BearerCall) -> web.Response:
        """The service's answer to an API call (its auth checks included)."""
        raise NotImplementedError
