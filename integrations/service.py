"""A provider's catalogue facts, stated once and shared by the metadata of each of its actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from integrations.base import (
    Category,
    CredentialsStrategy,
    IntegrationMetadata,
    RateLimit,
    SideEffect,
    UnknownOutcomePolicy,
)

__all__ = ["ActionPolicy", "Service"]


class ActionPolicy(TypedDict, total=False):
    """What one action declares beyond its provider's facts (see :class:`IntegrationMetadata`)."""

    version: str
    side_effect: SideEffect
    supports_idempotency_key: bool
    idempotency_window_s: float | None
    timeout_s: float
    max_attempts: int
    on_unknown_outcome: UnknownOutcomePolicy
    rate_limits: tuple[RateLimit, ...]


@dataclass(frozen=True, slots=True)
class Service:
    """A provider as the catalogue shows it: the facts each of its actions would repeat.

    ``name`` is the provider's key: the prefix of every action id, the credentials provider and
    the icon's name (``icons/integrations/<name>.svg``), so the three cannot drift apart.
    ``Service("telegram", Category.MESSAGING, "#26A5E4").action("send_message", ...)`` is the
    metadata of ``telegram_send_message``.
    """

    name: str
    category: Category
    color: str
    library: str = "httpx"
    strategy: CredentialsStrategy = CredentialsStrategy.API_KEY

    def action(
        self,
        action: str,
        *,
        name: str,
        description: str,
        config_schema: dict[str, Any],
        **policy: Unpack[ActionPolicy],
    ) -> IntegrationMetadata:
        """The :class:`IntegrationMetadata` of this provider's ``action`` (version 1.0.0 unless
        ``policy`` says otherwise); validated as any seed-style metadata is."""
        declared: dict[str, Any] = {"version": "1.0.0", **policy}
        return IntegrationMetadata(
            id=f"{self.name}_{action}",
            name=name,
            description=description,
            category=self.category,
            icon_s3_key=f"icons/integrations/{self.name}.svg",
            color=self.color,
            config_schema=config_schema,
            credentials_provider=self.name,
            credentials_strategy=self.strategy,
            library_name=self.library,
            **declared,
        )
