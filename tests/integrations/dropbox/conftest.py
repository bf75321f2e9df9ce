"""Fixtures for the Dropbox tests: the fake on a loopback socket, the action wired to it, a stub
resolver and ``run``, which executes inside a request context.

Test modules cannot import this file (pytest's importlib mode), so helpers reach them as fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.dropbox.testing import FakeDropbox
from integrations.dropbox.upload_file import METADATA, DropboxUploadFileIntegration
from integrations.http import HttpClients
from support.integrations import Run, http_clients, runner
from support.resolvers import StubResolver

TOKEN = "sl.BAbCdEfGhIjKlMnOpQrStUvWxYz0123456789-fake_token"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000d4"


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
    async with http_clients("dropbox", base_url=fake.base_url, timeout_s=5.0) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> DropboxUploadFileIntegration:
    return DropboxUploadFileIntegration(clients)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.dropbox", bot_id=BOT_ID, integration_id="dropbox_upload_file")


@pytest.fixture
def run(action: DropboxUploadFileIntegration, resolver: StubResolver, logger: BotLogger) -> Run:
    """Validate ``config`` and execute it as request ``key``."""
    return runner(action, METADATA, resolver, logger, BOT_ID)
