"""Fixtures for the Discord tests: the fake webhook API, clients pointed at it, a stub resolver."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.discord.execute_webhook import DiscordExecuteWebhookIntegration
from integrations.discord.testing import FakeDiscord
from integrations.http import HttpClients
from processors.logs import CHATTY_LOGGERS
from support.integrations import http_clients
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-00000000d15c"
WEBHOOK_ID = "223704706495545345"
TOKEN = "3d89bb7572e0fb30d8128367b3b1b44fecd1726de135cbe28a41f8b2f777c372ba2939e72279b94526ff"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(accept_any_webhook=False) as server:
        server.add_webhook(WEBHOOK_ID, TOKEN)
        yield server


@pytest.fixture
async def clients(fake: FakeDiscord) -> AsyncIterator[HttpClients]:
    async with http_clients("discord", base_url=fake.url) as pool:
        yield pool


@pytest.fixture
def action(clients: HttpClients) -> DiscordExecuteWebhookIntegration:
    return DiscordExecuteWebhookIntegration(clients)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver({"webhook_url": f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{TOKEN}"})


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.discord", bot_id=BOT_ID, integration_id="discord_execute_webhook")


@pytest.fixture
def worker_log_levels() -> Iterator[None]:
    """Everything at DEBUG except the per-request client loggers, which the worker quiets
    (``processors.logs.CHATTY_LOGGERS``): httpx logs each request URL, and a webhook URL holds
    the token in its path."""
    saved = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def webhook_id() -> str:
    return WEBHOOK_ID


@pytest.fixture
def bot_id() -> str:
    return BOT_ID
