"""The publisher a bot runtime uses to put integration requests on Kafka.

Requests are keyed by ``bot_id`` so a bot's actions keep their order. The producer is idempotent
with ``acks=all``: a retried send never duplicates or reorders a bot's requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from integrations.registry import IntegrationRegistry
from schemas import (
    ORDERING_KEY_HEADER,
    AvroCodec,
    IntegrationRequest,
    IntegrationResult,
    bot_id_problem,
    ordering_key_problem,
)
from topics.connection import client_options
from topics.results_reader import ResultWaiter
from topics.settings import StreamSettings

Headers = Mapping[str, str | bytes]


class ConnectionGroupError(ValueError):
    """A Connection Group that cannot be turned into an integration request."""


@dataclass(frozen=True, slots=True)
class ConnectionGroup:
    """The seed's Connection Group: points a bot at an integration with a config.

    ``integration_config`` values may hold ``{{ name }}`` placeholders filled from the context
    given to :meth:`RequestPublisher.publish_connection_group`.
    """

    search_type: str
    integration_id: str | None = None
    integration_config: Mapping[str, Any] | None = None
    integration_version: str | None = None
    id: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ConnectionGroup:
        known = {"search_type", "integration_id", "integration_config", "integration_version", "id"}
        return cls(**{k: v for k, v in data.items() if k in known})


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def render_config(config: Any, context: Mapping[str, Any]) -> Any:
    """Fill ``{{ name }}`` placeholders (dotted names reach into nested mappings).

    A string that is exactly one placeholder takes the context value as is (so a numeric chat id
    stays a number); placeholders inside longer strings are formatted as text.
    """
    if isinstance(config, Mapping):
        return {k: render_config(v, context) for k, v in config.items()}
    if isinstance(config, list):
        return [render_config(v, context) for v in config]
    if not isinstance(config, str):
        return config
    whole = _PLACEHOLDER.fullmatch(config)
    if whole:
        return _lookup(context, whole.group(1))
    return _PLACEHOLDER.sub(lambda m: str(_lookup(context, m.group(1))), config)


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    value: Any = context
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ConnectionGroupError(
                f"integration_config refers to {{{{ {dotted} }}}}, but the context has no "
                f"{part!r}; pass it in the context or remove the placeholder"
            )
        value = value[part]
    return value


def _with_ordering(
    request: IntegrationRequest, headers: list[tuple[str, bytes]] | None
) -> list[tuple[str, bytes]] | None:
    """The headers, plus the ordering key's (the scheduler reads it; see schemas.events)."""
    if request.ordering_key is None:
        return headers
    return [*(headers or ()), (ORDERING_KEY_HEADER, request.ordering_key.encode())]


def _kafka_headers(headers: Headers | None) -> list[tuple[str, bytes]] | None:
    if not headers:
        return None
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in headers.items()]


class RequestPublisher:
    """Publishes integration requests; optionally waits for their results.

    Use as an async context manager::

        async with RequestPublisher.from_settings(ClientSettings()) as publisher:
            request_id = await publisher.publish("bot-1", "telegram_send_message",
                                                 {"chat_id": 42, "text": "hi"})
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        *,
        settings: StreamSettings,
        codec: AvroCodec | None = None,
        registry: IntegrationRegistry | None = None,
    ) -> None:
        self._producer = producer
        self._settings = settings
        self._codec = codec or AvroCodec()
        self._registry = registry
        self._waiter: ResultWaiter | None = None
        self._waiter_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: StreamSettings, *, registry: IntegrationRegistry | None = None
    ) -> RequestPublisher:
        producer = AIOKafkaProducer(
            **client_options(settings.kafka),
            client_id=f"{settings.kafka.client_id}-publisher",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        return cls(producer, settings=settings, registry=registry)

    async def __aenter__(self) -> RequestPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()  # a failed start leaves a client to close
            raise

    async def stop(self) -> None:
        if self._waiter is not None:
            await self._waiter.stop()
            self._waiter = None
        await self._producer.stop()

    def build(
        self,
        bot_id: str,
        integration_id: str,
        config: Mapping[str, Any],
        *,
        version: str | None = None,
        idempotency_key: str | None = None,
        deadline: datetime | None = None,
        connection_group_id: str | None = None,
        ordering_key: str | None = None,
    ) -> IntegrationRequest:
        """The request event, validated against the local catalogue when one was given.

        ``ordering_key`` narrows the bot's order to requests with the same key (for Telegram,
        ``str(chat_id)``); None keeps one order for the whole bot."""
        problem = bot_id_problem(bot_id)
        if problem is not None:
            raise ValueError(f"{problem}; every request is keyed by its bot's id")
        problem = ordering_key_problem(ordering_key, None)
        if problem is not None:
            raise ValueError(problem)
        if self._registry is not None:
            self._registry.entry(integration_id, version).validate_config(dict(config))
        return IntegrationRequest.new(
            bot_id=bot_id,
            integration_id=integration_id,
            config=json.dumps(config, ensure_ascii=False, separators=(",", ":")),
            integration_version=version,
            idempotency_key=idempotency_key,
            deadline=deadline,
            connection_group_id=connection_group_id,
            ordering_key=ordering_key,
        )

    async def send(self, request: IntegrationRequest, *, headers: Headers | None = None) -> None:
        """Publish a built request and wait until the broker has it."""
        await self._producer.send_and_wait(
            self._settings.topics.requests,
            key=request.bot_id.encode(),
            value=self._codec.encode(request),
            headers=_with_ordering(request, _kafka_headers(headers)),
        )

    async def send_many(
        self, requests: Sequence[IntegrationRequest], *, headers: Headers | None = None
    ) -> None:
        """Publish many built requests in one go, in order (so each bot's order is kept).

        Each send is enqueued before the next one starts, then all deliveries are awaited.
        """
        kafka_headers = _kafka_headers(headers)
        deliveries = [
            await self._producer.send(
                self._settings.topics.requests,
                key=request.bot_id.encode(),
                value=self._codec.encode(request),
                headers=_with_ordering(request, kafka_headers),
            )
            for request in requests
        ]
        await asyncio.gather(*deliveries)

    async def publish(
        self,
        bot_id: str,
        integration_id: str,
        config: Mapping[str, Any],
        *,
        version: str | None = None,
        idempotency_key: str | None = None,
        deadline: datetime | None = None,
        headers: Headers | None = None,
        ordering_key: str | None = None,
    ) -> uuid.UUID:
        """Publish one request; returns its ``request_id``."""
        request = self.build(
            bot_id,
            integration_id,
            config,
            version=version,
            idempotency_key=idempotency_key,
            deadline=deadline,
            ordering_key=ordering_key,
        )
        await self.send(request, headers=headers)
        return request.request_id

    async def publish_connection_group(
        self,
        bot_id: str,
        group: ConnectionGroup | Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        *,
        headers: Headers | None = None,
        ordering_key: str | None = None,
    ) -> uuid.UUID:
        """Publish the request a seed Connection Group describes (``search_type="integration"``)."""
        if not isinstance(group, ConnectionGroup):
            group = ConnectionGroup.from_mapping(group)
        if group.search_type != "integration":
            raise ConnectionGroupError(
                f"connection group search_type is {group.search_type!r}; only 'integration' "
                "groups run integrations (set search_type='integration')"
            )
        if not group.integration_id:
            raise ConnectionGroupError(
                "connection group has no integration_id; set it, e.g. 'telegram_send_message'"
            )
        config = render_config(dict(group.integration_config or {}), context or {})
        request = self.build(
            bot_id,
            group.integration_id,
            config,
            version=group.integration_version,
            connection_group_id=group.id,
            ordering_key=ordering_key,
        )
        await self.send(request, headers=headers)
        return request.request_id

    async def request(
        self,
        bot_id: str,
        integration_id: str,
        config: Mapping[str, Any],
        *,
        timeout_s: float = 30.0,
        version: str | None = None,
        idempotency_key: str | None = None,
        deadline: datetime | None = None,
        headers: Headers | None = None,
        ordering_key: str | None = None,
    ) -> IntegrationResult:
        """Publish and wait for the matching result; ``TimeoutError`` after ``timeout_s``."""
        waiter = await self._result_waiter()
        request = self.build(
            bot_id,
            integration_id,
            config,
            version=version,
            idempotency_key=idempotency_key,
            deadline=deadline,
            ordering_key=ordering_key,
        )
        future = waiter.expect(request.request_id)
        try:
            await self.send(request, headers=headers)
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            waiter.forget(request.request_id)

    async def _result_waiter(self) -> ResultWaiter:
        async with self._waiter_lock:
            if self._waiter is None:
                waiter = ResultWaiter(
                    self._settings.kafka,
                    self._settings.topics.results,
                    self._codec,
                )
                await waiter.start()
                self._waiter = waiter
            return self._waiter
