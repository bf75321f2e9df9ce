"""What a worker holds while it runs: clients, caches and the request handler, built from settings.

Everything is created when the worker starts (inside its event loop) and closed when it stops;
no module-level clients. Tests build the same object with their own settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

import integrations.telegram
from integrations.base import BaseIntegration
from integrations.credentials import CredentialsResolver
from integrations.discovery import BUILTIN_SERVICES, discover
from integrations.http import HttpClients, HttpIntegration
from integrations.registry import IntegrationRegistry
from integrations.telegram import TelegramClientPool
from processors.executor import Executor
from processors.handler import RequestHandler
from processors.settings import Settings
from processors.sink import OutputSink, Producer
from schemas import AvroCodec, SchemaRegistryClient

log = logging.getLogger("actionstream.runtime")


@dataclass
class Runtime:
    """The worker's long-lived parts; :meth:`open` builds them, :meth:`aclose` releases them."""

    settings: Settings
    registry: IntegrationRegistry
    redis: aioredis.Redis
    resolver: CredentialsResolver
    telegram: TelegramClientPool
    http: HttpClients
    codec: AvroCodec
    schema_registry: SchemaRegistryClient | None
    handler: RequestHandler

    @classmethod
    async def open(
        cls,
        settings: Settings,
        producer: Producer,
        *,
        registry: IntegrationRegistry | None = None,
    ) -> Runtime:
        registry = registry if registry is not None else IntegrationRegistry()
        # Logs each unavailable service once, with its install hint.
        discover(registry, (*BUILTIN_SERVICES, *settings.integrations.extra_modules))
        redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                settings.redis.url,
                max_connections=max(64, settings.worker.max_in_flight * 2),
                socket_timeout=settings.redis.socket_timeout_s,
                socket_connect_timeout=settings.redis.socket_timeout_s,
            )
        )
        resolver = CredentialsResolver.from_settings(settings, redis)
        telegram = TelegramClientPool(settings.telegram)
        integrations.telegram.configure(telegram)
        http = HttpClients.from_settings(settings.integrations)
        for integration in _all_integrations(registry):
            if isinstance(integration, HttpIntegration):
                integration.configure(http)
        schema_registry = _schema_registry(settings)
        codec = await _codec(settings, schema_registry)
        handler = RequestHandler(
            codec=codec,
            executor=Executor(registry, resolver),
            sink=OutputSink(producer),
            topics=settings.topics,
            worker_id=settings.worker.id,
        )
        return cls(
            settings, registry, redis, resolver, telegram, http, codec, schema_registry, handler
        )

    async def aclose(self) -> None:
        if self.schema_registry is not None:
            await self.schema_registry.aclose()
        await self.telegram.aclose()
        await self.http.aclose()
        await self.resolver.aclose()
        await self.redis.aclose()


def _all_integrations(registry: IntegrationRegistry) -> list[BaseIntegration]:
    return [
        registry.entry(integration_id, version).integration
        for integration_id in registry.ids()
        for version in registry.versions(integration_id)
    ]


def _schema_registry(settings: Settings) -> SchemaRegistryClient | None:
    config = settings.schema_registry
    if config.url is None:
        return None
    auth = None
    if config.username and config.password:
        auth = (config.username, config.password.get_secret_value())
    return SchemaRegistryClient(config.url, timeout_s=config.timeout_s, auth=auth)


async def _codec(settings: Settings, client: SchemaRegistryClient | None) -> AvroCodec:
    """Single-object framing by default; Confluent framing once a registry is configured."""
    if client is None:
        return AvroCodec()
    codec = AvroCodec(registry=client)
    topics = settings.topics
    await codec.prepare(
        {
            topics.requests: "integration_request",
            topics.retry: "integration_request",
            topics.results: "integration_result",
            topics.dlq: "dead_letter",
        },
        auto_register=settings.schema_registry.auto_register,
    )
    return codec
