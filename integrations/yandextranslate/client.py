"""What Yandex Translate actions share: the Translate API v2 endpoint, credentials and errors.

**The wire** (Yandex Cloud docs, "Translate API v2, REST: Translation.Translate", verified
December 2026): ``POST https://translate.api.cloud.yandex.net/translate/v2/translate`` with
``{"texts": [...], "targetLanguageCode", "sourceLanguageCode"?, "format": "PLAIN_TEXT" | "HTML",
"folderId"?, "speller"?}``; "the maximum total length of all strings is 10000 characters". The
answer is ``{"translations": [{"text", "detectedLanguageCode"?}]}``, the detected language when
no source was given.

**Auth** (:mod:`integrations.yandexcloud.credentials`): ``Api-Key`` (a service account's:
``folderId`` is *not* sent, the account's own folder is used) or an IAM ``Bearer`` token with
``folderId`` in the body ("required for authorization with a user account"). The role is
``ai.translate.user``.

**Errors** are Yandex Cloud's ``google.rpc.Status`` (Translate's "Handling errors" page),
mapped by :class:`~integrations.yandexcloud.provider.YandexCloud` (16 → auth, 7 → auth naming
the role, 8 → rate limited, 3 → invalid config, 14/5xx → transient).

**Library**: plain httpx; Yandex publishes no Translate-only SDK, and ``yandexcloud`` (the
general SDK) is gRPC and synchronous.
"""

from __future__ import annotations

from typing import ClassVar

from integrations.base import Category
from integrations.service import Service
from integrations.yandexcloud import YandexCloud, YandexCloudIntegration

__all__ = [
    "YANDEXTRANSLATE",
    "YANDEXTRANSLATE_BASE_URL",
    "YandexTranslate",
    "YandexTranslateIntegration",
]

YANDEXTRANSLATE = Service("yandextranslate", Category.TRANSLATION, "#FFCC00")

YANDEXTRANSLATE_BASE_URL = "https://translate.api.cloud.yandex.net"


class YandexTranslate(YandexCloud):
    """Translate v2's answers: ``{"translations": [...]}`` on success, a Status otherwise."""

    name = "Yandex Translate"
    success_key = "translations"
    role = "ai.translate.user"


class YandexTranslateIntegration(YandexCloudIntegration):
    """Base of the Yandex Translate actions: the bot's ``yandextranslate`` key or IAM token.

    Credentials (strategy ``api_key``): ``{"api_key": "<service account API key>"}`` (a
    ``folder_id`` may be stored, and is checked, but is not sent) or ``{"iam_token": "<IAM
    token>", "folder_id": "<folder ID>"}``.
    """

    service: ClassVar[str] = YANDEXTRANSLATE.name
    default_base_url: ClassVar[str] = YANDEXTRANSLATE_BASE_URL
    provider = YandexTranslate()
    http_timeout_s: ClassVar[float] = 15.0
