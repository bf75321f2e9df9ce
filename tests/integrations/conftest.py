"""Fixtures every service's test folder shares, built from its ``CONTRACT`` subject.

The folder's name is the service: ``subject`` is ``CONTRACT`` from
``integrations/<service>/testing.py`` and ``action`` its one integration, built on ``clients``.
A service's own ``conftest.py`` holds only what differs; everything here can be overridden there:

``fake``          the service's fake on a loopback socket (``subject.fake()``), closed after
``clients``       the worker's shared HTTP clients pointed at the fake (short timeouts)
``credentials``   what the bot stores (``subject.credentials``); ``api_key`` its one secret
``resolver``      a :class:`StubResolver` answering ``credentials``; ``make_resolver`` others
``bot_id``        the bot every test runs as
``logger``        the action's :class:`BotLogger`
``run``           validate a config and execute it inside a request context (see ``runner``)
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from integrations.base import BaseIntegration
from integrations.bot_logger import BotLogger
from integrations.http import HttpClients
from integrations.testing import ContractSubject, FakeServer
from support.integrations import Run, http_clients, runner, subject_of
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000b0"


@pytest.fixture
def service(request: pytest.FixtureRequest) -> str:
    """The service under test: the name of the test's folder (``tests/integrations/<service>``)."""
    return request.path.parent.name


@pytest.fixture
def subject(service: str) -> ContractSubject:
    return subject_of(service)


@pytest.fixture
def action(service: str, clients: HttpClients) -> BaseIntegration:
    """The service's one action on ``clients`` (a folder testing several overrides this)."""
    [integration] = importlib.import_module(f"integrations.{service}").INTEGRATIONS
    built: BaseIntegration = type(integration)(clients)
    return built


@pytest.fixture
async def fake(subject: ContractSubject) -> AsyncIterator[FakeServer[Any, Any]]:
    async with subject.fake() as server:
        yield server


@pytest.fixture
async def clients(
    subject: ContractSubject, fake: FakeServer[Any, Any]
) -> AsyncIterator[HttpClients]:
    base_url = fake.base_url
    async with http_clients(subject.service, base_url=base_url, timeout_s=5.0) as pool:
        yield pool


@pytest.fixture
def credentials(subject: ContractSubject) -> dict[str, Any]:
    return dict(subject.credentials)


@pytest.fixture
def api_key(credentials: dict[str, Any]) -> str:
    """The one secret of ``credentials`` (its only string value)."""
    [secret] = [value for value in credentials.values() if isinstance(value, str)]
    return secret


@pytest.fixture
def resolver(credentials: dict[str, Any]) -> StubResolver:
    return StubResolver(credentials)


@pytest.fixture
def make_resolver() -> Callable[[dict[str, Any] | None], StubResolver]:
    return StubResolver


@pytest.fixture
def bot_id() -> str:
    return BOT_ID


@pytest.fixture
def logger(action: BaseIntegration, bot_id: str) -> BotLogger:
    integration_id = action.metadata.id
    return BotLogger(f"tests.{integration_id}", bot_id=bot_id, integration_id=integration_id)


@pytest.fixture
def run(action: BaseIntegration, resolver: StubResolver, logger: BotLogger, bot_id: str) -> Run:
    """Validate ``config`` and execute it as request ``key`` (see ``support.integrations``)."""
    return runner(action, action.metadata, resolver, logger, bot_id)
