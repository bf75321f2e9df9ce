"""Fixture building blocks shared by the integration catalogue's tests (``tests/integrations``).

Conftests cannot import each other (pytest's importlib mode), so what they share lives here:
``http_clients`` (a pool of the worker's shared clients pointed at a fake), ``runner`` (execute
an action inside a request context, as the processor does) and ``failures`` (the outcomes of runs
that must fail, for the "a key never leaks" checks).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from integrations.base import BaseIntegration, IntegrationMetadata
from integrations.bot_logger import BotLogger, SecretSet
from integrations.context import RequestContext, executing
from integrations.discovery import BUILTIN_SERVICES
from integrations.egress import EgressPolicy
from integrations.errors import IntegrationError
from integrations.http import HttpClients
from integrations.outcome import Outcome, classify
from integrations.testing import LOOPBACK, ContractSubject
from processors.settings import EndpointSettings
from support.resolvers import StubResolver

__all__ = ["Run", "catalogue_keyword", "failures", "http_clients", "runner", "subject_of"]

Run = Callable[..., Awaitable[dict[str, Any]]]


@asynccontextmanager
async def http_clients(provider: str, **settings: Any) -> AsyncIterator[HttpClients]:
    """``HttpClients({provider: EndpointSettings(**settings)})``, closed on exit; loopback is
    allowed explicitly (the fakes' address) for services whose URLs come from tenants."""
    egress = EgressPolicy.from_settings(LOOPBACK)
    pool = HttpClients({provider: EndpointSettings(**settings)}, egress=egress)
    try:
        yield pool
    finally:
        await pool.aclose()


def runner(
    action: BaseIntegration,
    metadata: IntegrationMetadata,
    resolver: StubResolver,
    logger: BotLogger,
    bot_id: str,
) -> Run:
    """``run(config, *, key, attempt, integration, credentials)``: validate ``config`` against
    ``metadata`` and execute it (with ``action`` or ``integration``, ``resolver`` or
    ``credentials``) as attempt ``attempt`` of request ``key`` (also its idempotency key)."""

    async def run(
        config: dict[str, Any],
        *,
        key: str = "req-0001",
        attempt: int = 1,
        integration: BaseIntegration | None = None,
        credentials: StubResolver | None = None,
    ) -> dict[str, Any]:
        metadata.validate_config(config)
        context = RequestContext(
            request_id=key, bot_id=bot_id, idempotency_key=key, attempt=attempt
        )
        with executing(context):
            return await (integration or action).execute(
                config, credentials or resolver, bot_id, logger
            )

    return run


def subject_of(service: str) -> ContractSubject:
    """``CONTRACT`` from ``integrations/<service>/testing.py``, checked to be a subject."""
    module = importlib.import_module(f"integrations.{service}.testing")
    subject = getattr(module, "CONTRACT", None)
    assert isinstance(subject, ContractSubject), (
        f"integrations/{service}/testing.py must define CONTRACT = ContractSubject(...)"
    )
    return subject


def catalogue_keyword(keyword: str) -> Iterator[tuple[str, str, str]]:
    """``(integration id, JSON path, value)`` of every string ``keyword`` (``"pattern"``,
    ``"format"``) in the config schemas of the built-in integrations."""
    for service in BUILTIN_SERVICES:
        for integration in importlib.import_module(f"integrations.{service}").INTEGRATIONS:
            schema = integration.metadata.config_schema
            for path, value in _walk(schema, "$", keyword):
                yield integration.metadata.id, path, value


def _walk(node: Any, path: str, keyword: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get(keyword), str):
            yield path, node[keyword]
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}", keyword)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]", keyword)


async def failures(
    run: Run,
    config: dict[str, Any],
    arrangements: Iterable[Callable[[], object]],
    *,
    credentials: StubResolver,
    secrets: SecretSet,
) -> list[tuple[IntegrationError, Outcome]]:
    """Run ``config`` once after each arrangement (a fault injected into the fake), each run
    failing with a typed error: the errors and their outcomes as the processor classifies them
    (``secrets`` redacted), for asserting that no credential shows in any of them."""
    seen: list[tuple[IntegrationError, Outcome]] = []
    for arrange in arrangements:
        arrange()
        try:
            await run(config, credentials=credentials)
        except IntegrationError as error:
            seen.append((error, classify(error, secrets=secrets)))
        else:
            raise AssertionError(f"{config} succeeded after {arrange}")
    return seen
