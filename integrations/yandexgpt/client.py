"""What YandexGPT actions share: the Foundation Models endpoint, credentials and errors.

**The wire** (Yandex Cloud docs, "Foundation Models Text Generation API, REST:
TextGeneration.Completion", verified December 2026): ``POST https://llm.api.cloud.yandex.net/
foundationModels/v1/completion`` with ``{"modelUri": "gpt://<folder ID>/<model>/<branch>",
"completionOptions": {"stream", "temperature", "maxTokens"}, "messages": [{"role", "text"}]}``;
a synchronous answer is ``{"result": {"alternatives": [{"message": {"role", "text"}, "status"}],
"usage": {"inputTextTokens", "completionTokens", "totalTokens"}, "modelVersion"}}``, the token
counts being int64 and so JSON strings. ``status`` is ``ALTERNATIVE_STATUS_FINAL``,
``_TRUNCATED_FINAL`` (cut at ``maxTokens``), ``_CONTENT_FILTER`` (stopped on sensitive content),
``_TOOL_CALLS``, or ``_PARTIAL`` / ``_UNSPECIFIED`` (the API's proto, as Yandex's SDKs publish
it).

**Auth** (:mod:`integrations.yandexcloud.credentials`): ``Api-Key`` or an IAM ``Bearer`` token,
the latter with ``x-folder-id``; the folder ID is needed either way, for ``modelUri``. The role
is ``ai.languageModels.user``.

**Errors** are Yandex Cloud's ``google.rpc.Status``, mapped by
:class:`~integrations.yandexcloud.provider.YandexCloud` (16 → auth, 7 → auth naming the role,
8 → rate limited, 3 → invalid config, 14/5xx → transient). Foundation Models' "Error codes" page
lists exactly these (3, 4, 7, 8, 12, 13, 14, 16).

**Library**: plain httpx on the native endpoint. The official ``yandex-ai-studio-sdk`` (formerly
``yandex-cloud-ml-sdk``) is async but speaks gRPC (``grpcio``), which bypasses our HTTP seam
(egress policy, send gate, size cap). The OpenAI-compatible ``/v1/chat/completions`` would need
our OpenAI client to send ``Api-Key`` instead of ``Bearer`` and a ``gpt://`` model name, and
answers OpenAI's error shape rather than Yandex's: the native endpoint is the smaller seam.
"""

from __future__ import annotations

from typing import ClassVar

from integrations.base import Category
from integrations.service import Service
from integrations.yandexcloud import YandexCloud, YandexCloudIntegration

__all__ = ["YANDEXGPT", "YANDEXGPT_BASE_URL", "YandexGPT", "YandexGPTIntegration"]

YANDEXGPT = Service("yandexgpt", Category.AI, "#FC3F1D")

YANDEXGPT_BASE_URL = "https://llm.api.cloud.yandex.net"


class YandexGPT(YandexCloud):
    """Foundation Models' answers: ``{"result": ...}`` on success, a Status otherwise."""

    name = "YandexGPT"
    success_key = "result"
    role = "ai.languageModels.user"


class YandexGPTIntegration(YandexCloudIntegration):
    """Base of the YandexGPT actions: the bot's ``yandexgpt`` key or IAM token and folder.

    Credentials (strategy ``api_key``): ``{"api_key": "<service account API key>",
    "folder_id": "<folder ID>"}`` or ``{"iam_token": "<IAM token>", "folder_id": "..."}``.
    """

    service: ClassVar[str] = YANDEXGPT.name
    default_base_url: ClassVar[str] = YANDEXGPT_BASE_URL
    provider = YandexGPT()
    folder_with_api_key = True  # modelUri names the folder
    # A long answer takes a while; below the action's timeout_s so a slow model ends as our
    # typed timeout, not as a cancellation by the processor (as openai_chat_completion does).
    http_timeout_s: ClassVar[float] = 100.0
