"""``openai_chat_completion``: ask a chat model (Chat Completions API) and return its answer."""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletion

from integrations.base import (
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.openai.client import OPENAI, OpenAICredentials, OpenAIIntegration
from integrations.outcome import ok
from integrations.provider import status_error

_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant"]},
        "content": {"type": "string", "minLength": 1, "maxLength": 1_000_000},
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
    },
    "required": ["role", "content"],
    "additionalProperties": False,
}
_RESPONSE_FORMAT: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"type": {"enum": ["text", "json_object"]}},
            "required": ["type"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "type": {"const": "json_schema"},
                "json_schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
                        "description": {"type": "string"},
                        "schema": {"type": "object"},
                        "strict": {"type": "boolean"},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
            },
            "required": ["type", "json_schema"],
            "additionalProperties": False,
        },
    ]
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
            "description": "Model id, e.g. gpt-4o-mini",
        },
        "messages": {"type": "array", "minItems": 1, "maxItems": 500, "items": _MESSAGE},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
        "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
        "stop": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 4,
                    "items": {"type": "string", "minLength": 1},
                },
            ]
        },
        "seed": {"type": "integer"},
        "reasoning_effort": {"enum": ["none", "minimal", "low", "medium", "high", "xhigh", "max"]},
        "response_format": _RESPONSE_FORMAT,
        "safety_identifier": {"type": "string", "minLength": 1, "maxLength": 256},
    },
    "required": ["model", "messages"],
    "additionalProperties": False,
}
_PASSED_THROUGH = tuple(key for key in CONFIG_SCHEMA["properties"] if key != "messages")

METADATA = OPENAI.action(
    "chat_completion",
    name="OpenAI Chat Completion",
    description="Send a conversation to an OpenAI chat model and return the assistant's answer, "
    "its finish reason and the token usage.",
    config_schema=CONFIG_SCHEMA,
    # OpenAI takes no idempotency key (the SDK sends none): a repeat is a second, billed
    # completion that may read differently. Nothing visible to users changes, so after a lost
    # answer we ask again.
    side_effect=SideEffect.NON_IDEMPOTENT,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=120.0,
    max_attempts=4,
    # No static limits: OpenAI's RPM/TPM depend on the organisation's usage tier and the model.
    # 429 rate_limit_exceeded carries retry-after(-ms), which we honour.
    rate_limits=(),
)


def _result(completion: ChatCompletion) -> dict[str, Any]:
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice is not None else None
    usage = completion.usage
    return {
        "text": (message.content if message is not None else None) or "",
        "refusal": message.refusal if message is not None else None,
        "finish_reason": choice.finish_reason if choice is not None else None,
        "model": completion.model,
        "id": completion.id,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        if usage is not None
        else None,
    }


class OpenAIChatCompletionIntegration(OpenAIIntegration):
    """Ask an OpenAI chat model through the official SDK (``chat.completions.create``).

    Config: ``model``, ``messages`` (``[{role: system|developer|user|assistant, content}]``) and
    the usual sampling options (``max_completion_tokens``, ``temperature``, ``top_p``, penalties,
    ``stop``, ``seed``, ``reasoning_effort``, ``response_format``, ``safety_identifier``).
    Credentials: ``{"api_key": "sk-...", "organization"?, "project"?}``. Returns
    ``{"text", "refusal", "finish_reason", "model", "id", "usage": {prompt_tokens,
    completion_tokens, total_tokens}}``; ``finish_reason: "length"`` means the answer was cut at
    ``max_completion_tokens``.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], credentials: OpenAICredentials, logger: BotLogger
    ) -> dict[str, Any]:
        options = {key: config[key] for key in _PASSED_THROUGH if key in config}
        call = self.call_of("POST /chat/completions", logger)
        try:
            completion = await self.sdk(credentials).chat.completions.create(
                messages=config["messages"], extra_headers=credentials.headers(), **options
            )
        except openai.OpenAIError as exc:
            raise self.failure(call, exc, logger) from None
        if not isinstance(completion, ChatCompletion):  # a 200 that was not JSON: a proxy's?
            raise self.failure(call, status_error(call, 200), logger)
        result = _result(completion)
        logger.info(
            "openai completion done",
            model=result["model"],
            finish_reason=result["finish_reason"],
            total_tokens=(result["usage"] or {}).get("total_tokens"),
        )
        return ok(result)
