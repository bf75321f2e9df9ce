"""``yandexgpt_completion``: ask a YandexGPT model (Foundation Models, synchronously)."""

from __future__ import annotations

from typing import Any

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import PermanentError
from integrations.outcome import ok
from integrations.yandexcloud import YandexCloudCredentials
from integrations.yandexgpt.client import YANDEXGPT, YandexGPTIntegration

# The text-generation models of Foundation Models' "Models" page (YandexGPT Lite, Pro, Pro 32k,
# Llama 8b and 70b) and the branches each is published on.
MODELS = ("yandexgpt", "yandexgpt-lite", "yandexgpt-32k", "llama", "llama-lite")
BRANCHES = ("latest", "rc", "deprecated")
# A synchronous request to a 4th-generation model holds 8,192 tokens (prompt and answer, the
# 32k model 32,000): an answer longer than this can never be asked for. The API itself caps
# one answer lower (2,000 tokens in the December 2024 limits) and refuses more with
# INVALID_ARGUMENT, which is an invalid config here.
MAX_TOKENS = 8000
MAX_MESSAGES = 100
MAX_TEXT_CHARS = 32_000
_FINISH = {
    "ALTERNATIVE_STATUS_FINAL": "stop",
    "ALTERNATIVE_STATUS_TRUNCATED_FINAL": "length",
    "ALTERNATIVE_STATUS_CONTENT_FILTER": "content_filter",
    "ALTERNATIVE_STATUS_TOOL_CALLS": "tool_calls",
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {
            "enum": list(MODELS),
            "default": "yandexgpt",
            "description": "The model: yandexgpt (Pro, the default), yandexgpt-lite, "
            "yandexgpt-32k (long context), llama (70b) or llama-lite (8b)",
        },
        "branch": {
            "enum": list(BRANCHES),
            "default": "latest",
            "description": "The model's branch: latest (default), rc (release candidate) or "
            "deprecated",
        },
        "messages": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_MESSAGES,
            "description": "The conversation so far, oldest first (at most 100 messages)",
            "items": {
                "type": "object",
                "properties": {
                    "role": {
                        "enum": ["system", "user", "assistant"],
                        "description": "Who wrote it: system (instructions), user or assistant",
                    },
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_TEXT_CHARS,
                        "description": "The message's text (at most 32,000 characters)",
                    },
                },
                "required": ["role", "text"],
                "additionalProperties": False,
            },
        },
        "temperature": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Randomness of the answer, 0 to 1 (YandexGPT's default: 0.3)",
        },
        "max_tokens": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_TOKENS,
            "description": "The longest answer, in tokens (1 to 8,000)",
        },
    },
    "required": ["messages"],
    "additionalProperties": False,
}

METADATA = YANDEXGPT.action(
    "completion",
    name="YandexGPT Completion",
    description="Send a conversation to a YandexGPT model (Yandex Cloud Foundation Models) and "
    "return its answer, why it stopped and the token usage.",
    config_schema=CONFIG_SCHEMA,
    # As openai_chat_completion: no idempotency key, so a repeat is a second, billed completion
    # that may read differently. Nothing visible to users changes: after a lost answer, ask again.
    side_effect=SideEffect.NON_IDEMPOTENT,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=120.0,  # above the 100 s HTTP timeout, as for openai_chat_completion
    max_attempts=4,
    # Foundation Models' quota for synchronous generation is 10 *concurrent* generations per
    # model (1 for the 32k model, which is also held to 100 requests an hour). No count per
    # second is documented; 10 a second keeps the concurrency for any generation of a second or
    # more, and RESOURCE_EXHAUSTED (429) is the signal for the rest.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=10, period_s=1.0),),
)


class YandexGPTCompletionIntegration(YandexGPTIntegration):
    """Ask a YandexGPT model with ``POST /foundationModels/v1/completion`` (``stream: false``).

    Config: ``messages`` (``[{role: system|user|assistant, text}]``), optional ``model``,
    ``branch``, ``temperature`` and ``max_tokens``. Credentials: ``{"api_key" | "iam_token",
    "folder_id"}``. Returns ``{"text", "role", "status", "finish_reason", "model",
    "model_version", "usage": {input_text_tokens, completion_tokens, total_tokens}}``;
    ``finish_reason`` is ``stop``, ``length`` (cut at ``max_tokens``), ``content_filter``
    (Yandex stopped on sensitive content: the text is its refusal) or ``tool_calls``.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], credentials: YandexCloudCredentials, logger: BotLogger
    ) -> dict[str, Any]:
        model = f"{config.get('model', 'yandexgpt')}/{config.get('branch', 'latest')}"
        options: dict[str, Any] = {"stream": False}
        if "temperature" in config:
            options["temperature"] = config["temperature"]
        if "max_tokens" in config:
            options["maxTokens"] = str(config["max_tokens"])  # int64: a string in JSON
        body = {
            "modelUri": f"gpt://{credentials.folder_id}/{model}",
            "completionOptions": options,
            "messages": [{"role": m["role"], "text": m["text"]} for m in config["messages"]],
        }
        reply = await self.call(
            "POST", "/foundationModels/v1/completion", json=body,
            headers=credentials.headers(folder_header=True), secrets=[credentials.secret],
            what=f"completion (folder {credentials.folder_id})", logger=logger,
        )  # fmt: skip
        result = _result(reply.body["result"], model)
        logger.info(
            "yandexgpt completion done",
            model=model,
            finish_reason=result["finish_reason"],
            total_tokens=result["usage"]["total_tokens"],
        )
        return ok(result)


def _result(answer: Any, model: str) -> dict[str, Any]:
    alternatives = answer.get("alternatives") if isinstance(answer, dict) else None
    first = alternatives[0] if isinstance(alternatives, list) and alternatives else None
    message = first.get("message") if isinstance(first, dict) else None
    text = message.get("text", "") if isinstance(message, dict) else None
    if not isinstance(first, dict) or not isinstance(text, str):
        raise PermanentError("YandexGPT completion: the answer has no alternative", code=502)
    status = str(first.get("status", "ALTERNATIVE_STATUS_UNSPECIFIED"))
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    version = answer.get("modelVersion")
    return {
        "text": text,
        "role": message.get("role", "assistant") if isinstance(message, dict) else "assistant",
        "status": status,
        "finish_reason": _FINISH.get(status, status.removeprefix("ALTERNATIVE_STATUS_").lower()),
        "model": model,
        "model_version": version if isinstance(version, str) else None,
        "usage": {
            "input_text_tokens": _count(usage.get("inputTextTokens")),
            "completion_tokens": _count(usage.get("completionTokens")),
            "total_tokens": _count(usage.get("totalTokens")),
        },
    }


def _count(value: object) -> int | None:
    """A token count: int64 comes as a JSON string (``"42"``), sometimes as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        return int(value)
    return None
