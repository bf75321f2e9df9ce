"""Reading one secret out of a bot's credentials, the way every API-key integration does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.errors import AuthError


async def secret_field(
    resolver: CredentialsResolverLike,
    bot_id: UUID | str,
    logger: BotLogger,
    *,
    provider: str,
    fields: Sequence[str],
    example: str,
    strategy: str = "api_key",
    strip: bool = False,
) -> str | None:
    """The first non-empty string among ``fields`` of the bot's ``provider`` credentials.

    ``None`` when the bot has no such credentials (integrations answer the seed's 401
    envelope); :class:`AuthError` naming the expected shape (``example``) when they lack the
    field. The value is registered with ``logger`` as a secret (raw and, with ``strip``,
    stripped of surrounding whitespace, which is then what is returned).
    """
    creds = await resolver.get_default_for(bot_id=bot_id, provider=provider, strategy=strategy)
    if not creds:
        return None
    for name in fields:
        value = creds.get(name)
        if isinstance(value, str) and (value.strip() if strip else value):
            logger.add_secret([value, value.strip()] if strip else value)
            return value.strip() if strip else value
    raise AuthError(
        f"the bot's {provider!r} credentials have no {fields[0]!r}; store them as {example}"
    )


@dataclass(frozen=True, slots=True)
class SecretField:
    """Where an action's one secret lives in the bot's credentials (see :func:`secret_field`)."""

    provider: str
    fields: tuple[str, ...]
    example: str
    strategy: str = "api_key"
    strip: bool = False

    async def read(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> str | None:
        """The secret, ``None`` when the bot has no such credentials, or :class:`AuthError`."""
        return await secret_field(
            resolver, bot_id, logger, provider=self.provider, fields=self.fields,
            example=self.example, strategy=self.strategy, strip=self.strip,
        )  # fmt: skip
