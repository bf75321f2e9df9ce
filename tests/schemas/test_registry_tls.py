"""The Schema Registry client over TLS with a private CA and basic auth, as the worker builds it."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from processors.runtime import _schema_registry
from processors.settings import Settings
from schemas.errors import SchemaRegistryError
from support.tls import LocalCA
from topics.settings import SchemaRegistrySettings

from .conftest import FakeSchemaRegistry, registry_app

USER, PASSWORD = "actionstream", "registry-secret"
SCHEMA = '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]}'


@pytest.fixture
async def tls_registry(tmp_path: Path) -> AsyncIterator[tuple[str, LocalCA]]:
    ca = LocalCA(tmp_path)
    issued = ca.issue("registry", hosts=("127.0.0.1",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    @web.middleware
    async def basic_auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error_code": 40101, "message": "Unauthorized"}, status=401)
        return await handler(request)

    app = registry_app(FakeSchemaRegistry())
    app.middlewares.append(basic_auth)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}", ca
    finally:
        await runner.cleanup()


def registry_settings(url: str, ca: LocalCA | None, password: str = PASSWORD) -> Settings:
    return Settings(
        schema_registry=SchemaRegistrySettings(
            url=url, username=USER, password=SecretStr(password), ca_file=ca.pem if ca else None
        )
    )


async def test_the_worker_registers_over_tls_with_basic_auth(
    tls_registry: tuple[str, LocalCA],
) -> None:
    url, ca = tls_registry
    client = _schema_registry(registry_settings(url, ca))
    assert client is not None
    async with client:
        assert await client.register("t-value", SCHEMA) == 1


@pytest.mark.parametrize(("password", "trusted", "says"), [
    ("wrong", True, "401"),
    (PASSWORD, False, "CERTIFICATE_VERIFY_FAILED"),
])  # fmt: skip
async def test_a_wrong_password_or_an_untrusted_ca_is_a_clear_error(
    tls_registry: tuple[str, LocalCA], password: str, trusted: bool, says: str
) -> None:
    url, ca = tls_registry
    client = _schema_registry(registry_settings(url, ca if trusted else None, password))
    assert client is not None
    async with client:
        with pytest.raises(SchemaRegistryError, match=says) as caught:
            await client.register("t-value", SCHEMA)
    assert PASSWORD not in str(caught.value)
