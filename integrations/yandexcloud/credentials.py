"""A bot's Yandex Cloud credentials: an API key or an IAM token, and the folder they act in.

Stored under the service's provider (``yandexgpt``, ``yandextranslate``), strategy ``api_key``::

    {"api_key": "<service account API key>", "folder_id": "b1g..."}
    {"iam_token": "<IAM token>", "folder_id": "b1g..."}

Verified in Yandex Cloud's documentation ("Authentication with the Yandex Foundation Models API",
Translate's "Translation.Translate" reference, December 2026):

- an API key (a service account's; it does not expire) is sent as ``Authorization: Api-Key
  <key>``, an IAM token (a user's or a service account's; it lives at most 12 hours) as
  ``Authorization: Bearer <token>``;
- with an API key the service acts in the service account's own folder and the folder must
  *not* be sent in headers (Foundation Models) nor as ``folderId`` (Translate); YandexGPT still
  needs it inside ``modelUri``. With an IAM token the folder is sent: ``x-folder-id`` for
  Foundation Models, ``folderId`` for Translate.

A folder ID is checked by pattern before it goes anywhere: Yandex Cloud IDs are generated
strings of lowercase Latin letters and digits ("Resource identification", API design guide);
folder IDs are 20 of them (``b1g`` and 17 more, as every folder ID in Yandex's examples and the
console shows; the length itself is not stated in the guide).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.errors import AuthError

__all__ = ["FOLDER_ID_PATTERN", "YandexCloudCredentials", "read_yandex_credentials"]

FOLDER_ID_PATTERN = re.compile(r"[a-z0-9]{20}")  # used with fullmatch
# What a header value can carry: printable ASCII, no spaces. IAM tokens run to ~1 KB.
_SECRET_PATTERN = re.compile(r"[\x21-\x7e]{8,4096}")  # used with fullmatch
_SHOWN_CHARS = 40
Scheme = Literal["Api-Key", "Bearer"]
_SCHEMES: tuple[tuple[str, Scheme], ...] = (("api_key", "Api-Key"), ("iam_token", "Bearer"))


@dataclass(frozen=True, slots=True)
class YandexCloudCredentials:
    """An ``Api-Key`` or ``Bearer`` (IAM) secret and the folder ID (``None``: the key's own)."""

    scheme: Scheme
    secret: str = field(repr=False)
    folder_id: str | None

    @property
    def iam(self) -> bool:
        """Whether the secret is an IAM token (the folder is then sent with each request)."""
        return self.scheme == "Bearer"

    def headers(self, *, folder_header: bool = False) -> dict[str, str]:
        """``Authorization``, and with ``folder_header`` an IAM token's ``x-folder-id``."""
        headers = {"Authorization": f"{self.scheme} {self.secret}"}
        if folder_header and self.iam and self.folder_id:
            headers["x-folder-id"] = self.folder_id
        return headers


async def read_yandex_credentials(
    resolver: CredentialsResolverLike,
    bot_id: UUID | str,
    logger: BotLogger,
    *,
    provider: str,
    folder_with_api_key: bool,
) -> YandexCloudCredentials | None:
    """The bot's ``provider`` credentials; ``None`` when it has none.

    ``api_key`` wins over ``iam_token`` when both are stored (keys do not expire). ``folder_id``
    is required with an IAM token, and with an API key too when ``folder_with_api_key``. Raises
    :class:`AuthError` naming the field that is missing or malformed; the secret is registered
    with ``logger`` (raw and stripped) before anything else can fail.
    """
    creds = await resolver.get_default_for(bot_id=bot_id, provider=provider, strategy="api_key")
    if not creds:
        return None
    example = (
        '{"api_key": "<service account API key>", "folder_id": "<folder ID>"} or '
        '{"iam_token": "<IAM token>", "folder_id": "<folder ID>"}'
    )
    stored = [
        (name, scheme, raw)
        for name, scheme in _SCHEMES
        if isinstance(raw := creds.get(name), str) and raw.strip()
    ]
    for _, _, raw in stored:
        logger.add_secret([raw, raw.strip()])
    if not stored:
        raise AuthError(
            f"the bot's {provider!r} credentials have no 'api_key' or 'iam_token'; "
            f"store them as {example}"
        )
    name, scheme, raw = stored[0]
    secret = raw.strip()
    if not _SECRET_PATTERN.fullmatch(secret):
        raise AuthError(
            f"the bot's {provider!r} credentials: {name!r} must be 8 to 4096 printable ASCII "
            "characters without spaces; store the key or token exactly as Yandex Cloud issued it"
        )
    folder = _folder(creds.get("folder_id"), provider)
    if folder is None and (scheme == "Bearer" or folder_with_api_key):
        needed = "with an IAM token" if scheme == "Bearer" else "in every request of this service"
        raise AuthError(
            f"the bot's {provider!r} credentials have no 'folder_id' (needed {needed}); "
            f"store them as {example}"
        )
    return YandexCloudCredentials(scheme, secret, folder)


def _folder(value: object, provider: str) -> str | None:
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and FOLDER_ID_PATTERN.fullmatch(text):
        return text
    shown = repr(value)[:_SHOWN_CHARS]
    raise AuthError(
        f"the bot's {provider!r} credentials: 'folder_id' {shown} is not a Yandex Cloud folder "
        "ID (20 lowercase letters and digits, e.g. 'b1gabcdefghij0123456'); copy it from the "
        "folder's page in the management console"
    )
