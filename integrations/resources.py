"""What a worker hands every integration at start-up: its shared, long-lived clients.

The runtime builds one :class:`Resources` and calls ``integration.bind(resources)`` on every
registered integration (:meth:`~integrations.base.BaseIntegration.bind`); an integration takes
what it needs. The worker never names a service to do this, and a resource a later integration
needs (an OAuth token store, say) is one more field here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from integrations.http import HttpClients, current_traceparent
from integrations.settings import IntegrationSettings
from integrations.telegram.client import TelegramClientPool
from integrations.telegram.settings import TelegramSettings


@dataclass(frozen=True, slots=True)
class Resources:
    """The worker's shared clients; the worker closes them at shutdown, integrations never do."""

    http: HttpClients
    telegram: TelegramClientPool

    @classmethod
    def open(
        cls,
        integrations: IntegrationSettings,
        telegram: TelegramSettings,
        *,
        own_hosts: Iterable[str] = (),
    ) -> Resources:
        """Build them from settings (inside the worker's event loop); ``own_hosts`` are the
        deployment's own services, which no tenant URL may reach."""
        return cls(
            http=HttpClients.from_settings(integrations, deny_hosts=own_hosts),
            # Telegram calls carry the request's W3C traceparent (HttpClients add it themselves).
            telegram=TelegramClientPool(telegram, traceparent=current_traceparent),
        )

    async def aclose(self) -> None:
        await self.telegram.aclose()
        await self.http.aclose()
