"""Apply the topic catalogue to a cluster and describe what is there.

``apply`` creates what is missing and reports drift (partitions, replication, configs); it never
deletes or shrinks anything: a partition count change reshuffles which partition a bot lands on, so
that is an operator's decision, not a side effect of a deploy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from topics.catalogue import TopicSpec
from topics.connection import Brokers, client_options

TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


class TopicAdminError(RuntimeError):
    """The cluster refused a topic operation."""


class TopicState(StrEnum):
    """What ``apply`` found or did for one topic."""

    CREATED = "created"
    OK = "ok"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class LiveTopic:
    """A topic as the cluster reports it."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


@dataclass(frozen=True, slots=True)
class TopicReport:
    """The outcome of applying one spec."""

    spec: TopicSpec
    state: TopicState
    drift: list[str] = field(default_factory=list)


class TopicAdmin:
    """A thin, typed layer over aiokafka's admin client."""

    def __init__(self, brokers: Brokers, *, client_id: str = "actionstream-admin") -> None:
        self._client = AIOKafkaAdminClient(**client_options(brokers), client_id=client_id)

    async def __aenter__(self) -> TopicAdmin:
        await self._client.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def describe(self, names: list[str]) -> dict[str, LiveTopic]:
        """Live state of the named topics that exist (missing ones are absent from the result)."""
        existing = set(await self._client.list_topics())
        present = [n for n in names if n in existing]
        if not present:
            return {}
        metadata = await self._client.describe_topics(present)
        configs = await self._configs(present)
        live: dict[str, LiveTopic] = {}
        for topic in metadata:
            partitions = topic["partitions"]
            live[topic["topic"]] = LiveTopic(
                name=topic["topic"],
                partitions=len(partitions),
                replication_factor=len(partitions[0]["replicas"]) if partitions else 0,
                configs=configs.get(topic["topic"], {}),
            )
        return live

    async def apply(self, specs: list[TopicSpec]) -> list[TopicReport]:
        """Create missing topics; report drift of existing ones without changing them."""
        names = [s.name for s in specs]
        live = await self.describe(names)
        missing = [s for s in specs if s.name not in live]
        created: set[str] = set()
        if missing:
            response = await self._client.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in missing
                ]
            )
            for name, code, message in _topic_errors(response):
                if code == 0:
                    created.add(name)
                elif code != TOPIC_ALREADY_EXISTS:  # created meanwhile by someone else: fine
                    raise TopicAdminError(f"creating topic {name!r} failed ({code}): {message}")
            live = await self._wait_visible(names)
        reports = []
        for spec in specs:
            if spec.name in created:
                reports.append(TopicReport(spec, TopicState.CREATED))
                continue
            drift = _drift(spec, live[spec.name])
            reports.append(TopicReport(spec, TopicState.DRIFT if drift else TopicState.OK, drift))
        return reports

    async def _wait_visible(
        self, names: list[str], timeout_s: float = 15.0
    ) -> dict[str, LiveTopic]:
        """New topics reach the metadata a moment after CreateTopics returns; wait for them."""
        async with asyncio.timeout(timeout_s):
            while True:
                live = await self.describe(names)
                if len(live) == len(names) and all(t.partitions for t in live.values()):
                    return live
                await asyncio.sleep(0.1)

    async def _configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        responses = await self._client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        out: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                out[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource["config_entries"]
                    if entry["config_value"] is not None
                }
        return out


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) for each topic of a CreateTopics response (all versions)."""
    out = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        out.append((name, code, message))
    return out


def _drift(spec: TopicSpec, live: LiveTopic) -> list[str]:
    drift: list[str] = []
    if live.partitions != spec.partitions:
        drift.append(f"partitions: live {live.partitions}, wanted {spec.partitions}")
    if live.replication_factor != spec.replication_factor:
        drift.append(
            f"replication factor: live {live.replication_factor}, wanted {spec.replication_factor}"
        )
    for key, wanted in spec.configs.items():
        have: Any = live.configs.get(key)
        if have != wanted:
            drift.append(f"{key}: live {have}, wanted {wanted}")
    return drift
