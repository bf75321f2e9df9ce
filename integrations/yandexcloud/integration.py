"""The base of every Yandex Cloud action: the bot's key or IAM token, read once."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.http import HttpIntegration
from integrations.yandexcloud.credentials import YandexCloudCredentials, read_yandex_credentials
from integrations.yandexcloud.provider import YandexCloud

__all__ = ["YandexCloudIntegration"]


class YandexCloudIntegration(HttpIntegration, CredentialedIntegration[YandexCloudCredentials]):
    """An HTTP action of a Yandex Cloud service, run with :class:`YandexCloudCredentials`.

    Subclasses set ``service`` (also the credentials provider), ``default_base_url``, a
    :class:`YandexCloud` ``provider``, and ``folder_with_api_key`` when the request names the
    folder even with an API key (YandexGPT's ``modelUri``).
    """

    provider: ClassVar[YandexCloud] = YandexCloud()
    folder_with_api_key: ClassVar[bool] = False

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> YandexCloudCredentials | None:
        return await read_yandex_credentials(
            resolver, bot_id, logger,
            provider=self.service, folder_with_api_key=self.folder_with_api_key,
        )  # fmt: skip
