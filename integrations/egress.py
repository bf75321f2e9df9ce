"""Where a provider call may connect, when its host comes from a tenant (config or credentials).

A bot's Bitrix24 webhook or Moodle site is a URL its author typed: without a check the worker
would POST to ``169.254.169.254`` (the cloud metadata service), to cluster services, to our own
Redis. :class:`EgressPolicy` refuses those hosts, and :func:`guarded_transport` applies it **at
connect time**, to the very addresses the connection then uses, so a name that resolves to a
public address when checked and to a private one when connecting (DNS rebinding) gets nowhere:

- refused: loopback, private (RFC 1918), CGNAT (100.64/10), link-local (169.254/16, the metadata
  address), multicast, reserved and unspecified addresses, IPv6 ULA (fc00::/7) and link-local;
  and the deployment's own hosts (Kafka, Redis, the credentials API, the schema registry),
  whatever they resolve to, unless listed by name in the setting below;
- ``http`` is refused for such URLs (``https`` only): the tenant's secret travels in them;
- ``ACTIONSTREAM_INTEGRATIONS__EGRESS__ALLOW`` lists the exceptions (a host, or an address or
  network such as ``10.20.0.0/16``) for self-hosted services on a private network; an allowed
  host may also be reached over ``http``. The tests' loopback fakes are allowed this way.

A refused call is :class:`EgressRefusedError`: permanent, nothing was sent, and the message
names the host and the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from pydantic import BaseModel, Field

from integrations.errors import PermanentError

__all__ = [
    "EgressPolicy",
    "EgressRefusedError",
    "EgressSettings",
    "guarded_transport",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "ACTIONSTREAM_INTEGRATIONS__EGRESS__ALLOW"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class EgressSettings(BaseModel):
    """Exceptions to the egress policy, and the deployment's own hosts (always refused)."""

    allow: list[str] = Field(
        default_factory=list,
        description="hosts, addresses or networks tenant URLs may reach although private "
        '(JSON list, e.g. ["bitrix.corp.local", "10.20.0.0/16"]); http is allowed to them',
    )
    deny_hosts: list[str] = Field(
        default_factory=list,
        description="hosts never reached (the worker adds its Kafka, Redis and credentials API)",
    )


class EgressRefusedError(PermanentError):
    """A tenant URL pointed somewhere the worker must not connect to; nothing was sent."""

    maybe_executed = False


class EgressPolicy:
    """Decides whether a tenant-supplied host (and the addresses it resolves to) may be reached."""

    def __init__(self, allow: Iterable[str] = (), deny_hosts: Iterable[str] = ()) -> None:
        self._allowed_hosts: set[str] = set()
        self._allowed_networks: list[IPNetwork] = []
        for entry in allow:
            self._allowed_hosts.add(_normal(entry))  # "127.0.0.1" names a host too
            with contextlib.suppress(ValueError):  # not an address or network: a host name
                self._allowed_networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        # An own host is refused unless listed by name in ``allow``: a deliberate choice (a
        # development stack whose fakes share 127.0.0.1 with Redis).
        self._denied = {_normal(host) for host in deny_hosts if host} - self._allowed_hosts

    @classmethod
    def from_settings(
        cls, settings: EgressSettings, *, deny_hosts: Iterable[str] = ()
    ) -> EgressPolicy:
        return cls(settings.allow, [*settings.deny_hosts, *deny_hosts])

    def check_url(self, url: httpx.URL) -> None:
        """Before any lookup: the scheme (``https`` unless the host is allowed) and the host."""
        host = _normal(url.host)
        if host in self._denied:
            raise self._refused(host, "it is one of this deployment's own services")
        if url.scheme != "https" and not self._allows_name(host):
            raise self._refused(
                host,
                f"{url.scheme}:// is unencrypted: readable and changeable on the way",
            )

    def check_address(self, host: str, address: IPAddress) -> None:
        """At connect time: ``address`` is what ``host`` resolved to."""
        name = _normal(host)
        if name in self._denied:
            raise self._refused(name, "it is one of this deployment's own services")
        if self._allows_name(name) or any(address in net for net in self._allowed_networks):
            return
        why = _internal(address)
        if why is not None:
            raise self._refused(name, f"it resolves to {address}, {why}")

    def _allows_name(self, host: str) -> bool:
        if host in self._allowed_hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self._allowed_networks)

    @staticmethod
    def _refused(host: str, why: str) -> EgressRefusedError:
        return EgressRefusedError(
            f"refused to connect to {host!r}: {why}. A self-hosted service on a private "
            f"network must be listed in {SETTING}"
        )


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _internal(address: IPAddress) -> str | None:
    """Why ``address`` is internal, or ``None`` for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (the cloud metadata service lives there)"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a CGNAT address"),
        (address.is_private, "a private address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified or address.is_reserved, "not a routable address"),
    )
    return next((why for bad, why in checks if bad), None)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking each host before it connects."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, policy: EgressPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        for address in addresses:  # every answer: a rebinding name must not get a second try
            self._policy.check_address(host, address)
        # Connect to the checked address itself (TLS still verifies the host's name).
        return await self._inner.connect_tcp(
            str(addresses[0]), port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefusedError("refused to connect to a unix socket from a tenant URL")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose every connection passes the :class:`EgressPolicy`."""

    def __init__(self, policy: EgressPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy
        pool = self._pool
        # httpcore takes a network backend; httpx does not expose it (httpcore 1.x attribute).
        pool._network_backend = _GuardedBackend(pool._network_backend, policy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy.check_url(request.url)
        return await super().handle_async_request(request)


def guarded_transport(policy: EgressPolicy, *, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """A transport for clients whose URLs come from tenants: no cookies, no proxies from the
    environment, and every connection checked by ``policy``."""
    return _GuardedTransport(policy, limits=limits, trust_env=False)
