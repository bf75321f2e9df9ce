"""Tenant URLs never reach internal addresses: checked at connect time, over real sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from integrations.bitrix24.add_lead import Bitrix24AddLeadIntegration
from integrations.bot_logger import BotLogger
from integrations.egress import EgressPolicy, EgressRefusedError
from integrations.errors import TransientError
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from integrations.provider import Provider, send
from support.resolvers import StubResolver


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
    ],
)
def test_internal_addresses_are_refused_and_the_message_names_host_and_setting(
    address: str,
) -> None:
    with pytest.raises(EgressRefusedError) as caught:
        EgressPolicy().check_address("portal.example", ipaddress.ip_address(address))
    assert "'portal.example'" in caught.value.message
    assert "ACTIONSTREAM_INTEGRATIONS__EGRESS__ALLOW" in caught.value.message
    assert caught.value.maybe_executed is False


def test_public_addresses_and_listed_exceptions_pass() -> None:
    EgressPolicy().check_address("portal.example", ipaddress.ip_address("93.184.216.34"))
    allowing = EgressPolicy(allow=["10.20.0.0/16", "crm.corp.local"])
    allowing.check_address("portal.example", ipaddress.ip_address("10.20.3.4"))
    allowing.check_address("crm.corp.local", ipaddress.ip_address("10.99.0.1"))
    with pytest.raises(EgressRefusedError):
        allowing.check_address("portal.example", ipaddress.ip_address("10.21.0.1"))


def test_own_hosts_and_plain_http_are_refused_before_any_lookup() -> None:
    policy = EgressPolicy(allow=["crm.corp.local"], deny_hosts=["redis.internal"])
    with pytest.raises(EgressRefusedError, match="own services"):
        policy.check_url(httpx.URL("https://REDIS.internal./x"))
    with pytest.raises(EgressRefusedError, match="unencrypted"):
        policy.check_url(httpx.URL("http://portal.example/rest/1/secret/"))
    policy.check_url(httpx.URL("http://crm.corp.local/rest/1/secret/"))  # listed: http allowed


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A plain TCP server on 127.0.0.1 recording whatever each connection sends."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        server.close()
        await server.wait_closed()


async def call(clients: HttpClients, url: str) -> Any:
    client = clients.client("tenant", "https://unused.example", tenant_urls=True)
    return await send(client, Provider(), "POST", url, writes=True, json={"k": "v"})


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/rest/1/secret/",
        "https://localhost:{port}/rest/1/secret/",
        "http://127.0.0.1:{port}/rest/1/secret/",
        "https://rebinding.example:{port}/rest/",
    ],
)
async def test_a_tenant_url_to_an_internal_address_never_connects(
    listener: tuple[int, list[bytes]], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, received = listener
    real = asyncio.get_running_loop().getaddrinfo

    async def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        # A name that looked public when the URL was stored now resolves to loopback.
        return await real("127.0.0.1" if host == "rebinding.example" else host, *args, **kwargs)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    clients = HttpClients(egress=EgressPolicy())
    try:
        with pytest.raises(EgressRefusedError):
            await call(clients, url.format(port=port))
    finally:
        await clients.aclose()
    await asyncio.sleep(0.05)
    assert received == []


async def test_an_allowed_private_host_is_reached_and_keeps_no_cookies(
    listener: tuple[int, list[bytes]],
) -> None:
    port, received = listener
    clients = HttpClients(egress=EgressPolicy(allow=["127.0.0.1"]))
    try:
        reply = await call(clients, f"http://127.0.0.1:{port}/rest/1/secret/")
        assert reply.response.status_code == 200
        client = clients.client("tenant", "https://unused.example", tenant_urls=True)
        client.cookies.set("session", "bot-a")  # set by a provider for one bot...
        assert list(client.cookies.jar) == []  # ...is never kept for the next
    finally:
        await clients.aclose()
    assert len(received) == 1


async def test_an_unresolvable_tenant_host_is_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def nowhere(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", nowhere)
    clients = HttpClients(egress=EgressPolicy())
    try:
        with pytest.raises(TransientError) as caught:
            await call(clients, "https://no-such-portal.example/rest/")
    finally:
        await clients.aclose()
    assert caught.value.maybe_executed is False


@pytest.mark.parametrize(
    "webhook",
    [
        "https://169.254.169.254/rest/1/secretsecret12/",  # the cloud metadata service
        "https://10.0.0.7/rest/1/secretsecret12/",
        "http://portal.example/rest/1/secretsecret12/",  # the secret in clear
    ],
)
async def test_a_bitrix24_webhook_to_an_internal_address_fails_permanent(webhook: str) -> None:
    clients = HttpClients(egress=EgressPolicy())
    action = Bitrix24AddLeadIntegration(clients)
    logger = BotLogger("tests.egress", bot_id="b", integration_id="bitrix24_add_lead")
    try:
        with pytest.raises(EgressRefusedError) as caught:
            await action.execute(
                {"title": "t"}, StubResolver({"webhook_url": webhook}), "b", logger
            )
    finally:
        await clients.aclose()
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.PERMANENT
    assert "secretsecret12" not in repr(outcome)
