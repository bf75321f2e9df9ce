"""Fixtures for the Dropbox tests: the fake on a loopback socket, the action wired to it, a stub
resolver and ``run``, which executes inside a request context.

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from integrations.bot_logger import BotLogger
from integrations.context import RequestContext, executing
from integrations.dropbox.fake import FakeDropbox
from integrations.dropbox.upload_file import METADATA, DropboxUploadFileIntegration
from integrations.http import HttpClients
from processors.settings import EndpointSettings

TOKEN = "sl.BAbCdEfGhIjKlMnOpQrStUvWxYz0123456789-fake_token"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000d4"

Run = Callable[..., Awaitable[dict[str, Any]]]


class StubResolver:
    """The seed's ``get_default_for`` over one bot's credentials; records calls."""

    def __init__(self, credentials: dict[str, Any] | None) -> None:
        self.credentials = credentials
        self.calls: list[tuple[str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((str(bot_id), provider, strategy))
        return self.credentials


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({"access_token": TOKEN})


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
async def fake() -> AsyncIterator[FakeDropbox]:
    async with FakeDropbox(tokens=(TOKEN,)) as server:
        yield server


@pytest.fixture
async def clients(fake: FakeDropbox) -> AsyncIterator[HttpClients]:
    pool = HttpClients({"dropbox": EndpointSettings(base_url=fake.base_url, timeout_s=5.0)})
    yield pool
    await pool.aclose()


@pytest.fixture
def action(clients: HttpClients) -> DropboxUploadFileIntegration:
    return DropboxUploadFileIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.dropbox", bot_id=BOT_ID, integration_id="dropbox_upload_file")


@pytest.fixture
def run(action: DropboxUploadFileIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as request ``key``."""

    async def _run(
        config: dict[str, Any],
        *,
        key: str = "req-0001",
        integration: DropboxUploadFileIntegration | None = None,
        credentials: StubResolver | None = None,
    ) -> dict[str, Any]:
        METADATA.validate_config(config)
        context = RequestContext(request_id=key, bot_id=BOT_ID, idempotency_key=key)
        with executing(context):
            return await (integration or action).execute(
                config, credentials or resolver, BOT_ID, logger
            )

    return _run
