"""A fake YandexGPT (Foundation Models completion): real HTTP on loopback, for tests and demos.

    async with FakeYandexGPT(api_keys={KEY: FOLDER}) as fake:     # 127.0.0.1:<free port>
        clients = HttpClients({"yandexgpt": EndpointSettings(base_url=fake.url)})
        fake.reply = "Привет!"                                   # else it echoes the user
        fake.inject("resource_exhausted")                        # the next call gets a 429
        fake.calls[-1].body, fake.calls[-1].credential           # {"modelUri": ...}, KEY

``POST /foundationModels/v1/completion`` takes ``{"modelUri": "gpt://<folder>/<model>/<branch>",
"completionOptions", "messages"}`` and answers ``{"result": {"alternatives": [{"message":
{"role": "assistant", "text"}, "status"}], "usage": {...}, "modelVersion"}}`` with the token
counts as strings, as Foundation Models does. An answer longer than ``maxTokens`` words is cut
(``ALTERNATIVE_STATUS_TRUNCATED_FINAL``); a user message holding one of ``blocked`` gets
Yandex's refusal with ``ALTERNATIVE_STATUS_CONTENT_FILTER``. Auth, folders and the error shape
(the gateway's wrapped ``{"error": {"grpcCode", ...}}``) come from
:class:`~integrations.yandexcloud.testing.FakeYandexCloud`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Unpack

from aiohttp import web

from integrations.testing import ContractSubject
from integrations.yandexcloud.testing import (
    FakeOptions,
    FakeYandexCloud,
    FaultKind,
    RecordedCall,
)
from integrations.yandexgpt.completion import BRANCHES, MODELS

__all__ = ["CONTRACT", "FakeYandexGPT", "FaultKind", "RecordedCall"]

_MODEL_URI = re.compile(r"^gpt://([a-z0-9]+)/([a-z0-9.-]+)(?:/([a-z]+))?$")
REFUSAL = "Я не могу обсуждать эту тему. Давайте поговорим о чём-нибудь ещё."
MODEL_VERSION = "23.10.2024"


class FakeYandexGPT(FakeYandexCloud):
    """A fake Foundation Models completion API (``options``: :class:`FakeYandexCloud`'s).

    ``reply``: the assistant's answer, a string or a callable taking the request body; by
    default it echoes the last user message. ``max_answer_tokens``: the most ``maxTokens``
    accepts (Yandex's per-answer limit).
    """

    path = "/foundationModels/v1/completion"
    wrapped_errors = True

    def __init__(
        self,
        *,
        blocked: Iterable[str] = ("forbidden-topic",),
        max_answer_tokens: int = 8000,
        **options: Unpack[FakeOptions],
    ) -> None:
        super().__init__(**options)
        self.reply: str | Callable[[dict[str, Any]], str] | None = None
        self.blocked = set(blocked)
        self.max_answer_tokens = max_answer_tokens

    def requested_folder(self, call: RecordedCall) -> str | None:
        match = _MODEL_URI.match(str(call.fields.get("modelUri", "")))
        return match[1] if match else None

    def answer(self, call: RecordedCall, folder: str | None) -> web.Response:
        body = call.fields
        match = _MODEL_URI.match(str(body.get("modelUri", "")))
        if match is None:
            return self.status(3, "modelUri: invalid model URI, expected gpt://<folder>/<model>")
        header = call.headers.get("x-folder-id")
        if header is not None and header != match[1]:
            return self.status(3, f"x-folder-id {header} does not match the modelUri folder")
        if match[2] not in MODELS or (match[3] or "latest") not in BRANCHES:
            return self.status(5, f"Model {match[2]}/{match[3] or 'latest'} not found")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(map(_message, messages)):
            return self.status(3, "messages: must be a non-empty list of {role, text}")
        options = body.get("completionOptions") or {}
        limit = _int(options.get("maxTokens", 2000))
        temperature = options.get("temperature", 0.3)
        if limit is None or not 0 < limit <= self.max_answer_tokens:
            return self.status(
                3, f"completionOptions.maxTokens must be 1..{self.max_answer_tokens}"
            )
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 1:
            return self.status(3, "completionOptions.temperature must be between 0 and 1")
        return web.json_response({"result": self._result(body, messages, limit)})

    def _result(
        self, body: dict[str, Any], messages: list[dict[str, Any]], limit: int
    ) -> dict[str, Any]:
        users = [m["text"] for m in messages if m["role"] == "user"]
        status = "ALTERNATIVE_STATUS_FINAL"
        if any(word in text for text in users for word in self.blocked):
            text, status = REFUSAL, "ALTERNATIVE_STATUS_CONTENT_FILTER"
        elif callable(self.reply):
            text = self.reply(body)
        else:
            text = self.reply or (f"You said: {users[-1]}" if users else "Hello!")
        words = text.split(" ")
        if len(words) > limit:
            text, status = " ".join(words[:limit]), "ALTERNATIVE_STATUS_TRUNCATED_FINAL"
        prompt = sum(len(m["text"].split()) + 4 for m in messages)
        completion = len(text.split())
        return {
            "alternatives": [{"message": {"role": "assistant", "text": text}, "status": status}],
            "usage": {
                "inputTextTokens": str(prompt),
                "completionTokens": str(completion),
                "totalTokens": str(prompt + completion),
            },
            "modelVersion": MODEL_VERSION,
        }


def _message(message: object) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") in ("system", "user", "assistant")
        and isinstance(message.get("text"), str)
    )


def _int(value: object) -> int | None:
    """int64 as Yandex reads it: a number or a decimal string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


CONTRACT_KEY = "AQVNcontract0yandexgpt0key0Vd3kX9qL2mT7wR4"
CONTRACT_FOLDER = "b1gcontract000000gpt"
_HELLO = {"messages": [{"role": "user", "text": "hello"}]}
CONTRACT = ContractSubject(
    service="yandexgpt",
    fake=lambda: FakeYandexGPT(api_keys={CONTRACT_KEY: CONTRACT_FOLDER}),
    credentials={"api_key": CONTRACT_KEY, "folder_id": CONTRACT_FOLDER},
    configs={"yandexgpt_completion": _HELLO},
    invalid_configs={
        "yandexgpt_completion": [
            ({}, "messages"),
            ({"messages": []}, "messages"),
            ({"messages": [{"role": "user", "text": "x"}] * 101}, "messages"),
            ({"messages": [{"role": "tool", "text": "x"}]}, "role"),
            ({"messages": [{"role": "user", "text": ""}]}, "text"),
            ({"messages": [{"role": "user", "text": "x" * 32_001}]}, "text"),
            ({"messages": [{"role": "user", "content": "x"}]}, "text"),
            ({**_HELLO, "model": "gpt-4o"}, "model"),
            ({**_HELLO, "model": "yandexgpt/latest"}, "model"),
            ({**_HELLO, "branch": "nightly"}, "branch"),
            ({**_HELLO, "temperature": 1.5}, "temperature"),
            ({**_HELLO, "temperature": -0.1}, "temperature"),
            ({**_HELLO, "max_tokens": 0}, "max_tokens"),
            ({**_HELLO, "max_tokens": 8001}, "max_tokens"),
            ({**_HELLO, "max_tokens": "100"}, "max_tokens"),
            ({**_HELLO, "stream": True}, "stream"),
            ({**_HELLO, "model_uri": "gpt://b1g/yandexgpt"}, "model_uri"),
        ],
    },
)
