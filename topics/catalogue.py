"""The declarative topic catalogue: what actionstream's topics are and how they are configured.

Every topic is keyed by ``bot_id`` (UTF-8), so a bot's requests, results, retries and dead letters
land on the same partition number and keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from topics.settings import TopicSettings

DAY_MS = 24 * 60 * 60 * 1000


class TopicRole(StrEnum):
    """What a topic is for."""

    REQUESTS = "requests"
    RESULTS = "results"
    RETRY = "retry"
    DLQ = "dlq"
    COMMANDS = "commands"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """The desired state of one topic."""

    role: TopicRole
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)
    description: str = ""


def catalogue(settings: TopicSettings) -> list[TopicSpec]:
    """The five topics, named and sized from settings.

    Results and dead letters are kept longer than requests: audit consumers and operators read
    them days later. Retry records are only needed until they are due. Operators' bot commands
    are kept forever on one partition: they are the audit trail of pause, resume and cancel,
    every worker reads them all at start, and they are few.
    """

    def spec(
        role: TopicRole,
        name: str,
        retention_days: int | None,
        description: str,
        *,
        partitions: int = settings.partitions,
    ) -> TopicSpec:
        retention_ms = -1 if retention_days is None else retention_days * DAY_MS  # -1: forever
        return TopicSpec(
            role=role,
            name=name,
            partitions=partitions,
            replication_factor=settings.replication_factor,
            configs={
                "cleanup.policy": "delete",
                "retention.ms": str(retention_ms),
                "min.insync.replicas": str(min(2, settings.replication_factor)),
            },
            description=description,
        )

    commands = "operators' pause, resume and cancel commands, and workers' answers"
    return [
        spec(TopicRole.REQUESTS, settings.requests, 7, "integration requests from bot runtimes"),
        spec(TopicRole.RESULTS, settings.results, 30, "one result per request"),
        spec(TopicRole.RETRY, settings.retry, 7, "delayed retries with a not-before time"),
        spec(TopicRole.DLQ, settings.dlq, 30, "original bytes and error context of failures"),
        spec(TopicRole.COMMANDS, settings.commands, None, commands, partitions=1),
    ]
