"""The seed's ``execute`` once for every action that needs the bot's credentials before it runs."""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar
from uuid import UUID

from integrations.base import BaseIntegration, CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.outcome import credentials_not_found

__all__ = ["CredentialedIntegration"]

C = TypeVar("C")


class CredentialedIntegration(BaseIntegration, Generic[C]):
    """An action that reads the bot's credentials into a ``C`` (a key, a site, a key pair),
    then runs with them.

    Subclasses implement :meth:`read_credentials` and :meth:`run`; a bot without the
    credentials gets the seed's 401 envelope, and nothing else about that answer is theirs to
    repeat. :meth:`read_credentials` registers every secret it reads with the logger.
    """

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        credentials = await self.read_credentials(credentials_resolver, bot_id, logger)
        if credentials is None:
            return credentials_not_found()
        return await self.run(config, credentials, logger)

    @abc.abstractmethod
    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> C | None:
        """The bot's credentials for this action, ``None`` when it has none, or a typed error
        (:class:`~integrations.errors.AuthError`) naming what is wrong with them."""

    @abc.abstractmethod
    async def run(
        self, config: dict[str, Any], credentials: C, logger: BotLogger
    ) -> dict[str, Any]:
        """Execute with the bot's ``credentials``; the seed's envelope, or a typed error raised."""
