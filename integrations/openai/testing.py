"""A fake OpenAI Chat Completions API: real HTTP on loopback, for tests and demos.

The official SDK talks to it unmodified (``AsyncOpenAI(base_url=fake.url)``); point the
integration at it with ``HttpClients({"openai": EndpointSettings(base_url=fake.url)})``::

    async with FakeOpenAI(api_keys={"sk-test"}) as fake:
        fake.reply = "Hello!"                     # or a callable(request body) -> str
        fake.inject("rate_limit", retry_after_ms=1500)
        fake.fail_next(403)                       # in OpenAI's error shape
        ...
        fake.calls[0].body["messages"]

It answers as OpenAI does (``external-apis.md`` §2): ``POST /v1/chat/completions`` with
``Authorization: Bearer``; errors as ``{"error": {"message", "type", "param", "code"}}`` with the
real status codes, ``x-request-id`` on every answer, ``x-ratelimit-*`` headers, and on 429 the
``retry-after-ms`` / ``retry-after`` / ``x-should-retry`` headers the SDK reads. OpenAI's own
faults: see :data:`FaultKind`; plain statuses, cut connections and stalls come from
:class:`~integrations.testing.FakeServer` (``fail_next`` answers in OpenAI's error shape).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeOpenAI", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429 rate_limit_exceeded (+ retry-after-ms / retry-after / x-should-retry)
    "insufficient_quota",  # 429 insufficient_quota: the account has no credit
    "request_too_large",  # 429 rate_limit_exceeded, type tokens: one request over the TPM limit
    "server_error",  # 500 (or `status=`, e.g. 502)
]

_FAULTS: dict[str, tuple[int, str, str | None, str | None, str]] = {
    # kind: (status, type, code, param, message)
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        None,
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
    ),
    "insufficient_quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        None,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
    ),
    "request_too_large": (
        429,
        "tokens",
        "rate_limit_exceeded",
        None,
        "Request too large for {model} in organization org-fake on tokens per min (TPM): "
        "Limit 30000, Requested 45000. The input or output tokens must be reduced in order to "
        "run successfully.",
    ),
    "server_error": (
        500,
        "server_error",
        None,
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
}
_CONTEXT_LENGTH = (
    "This model's maximum context length is {window} tokens. However, your messages resulted "
    "in {tokens} tokens. Please reduce the length of the messages."
)
# What a plain status looks like from OpenAI (error_response): (type, code).
_SHAPES: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("request_forbidden", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
DEFAULT_MODELS = frozenset({"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini"})


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received, with what it answered."""

    method: str
    path: str
    body: Any

    @property
    def api_key(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault the next matching requests get; returned by :meth:`FakeOpenAI.inject`."""

    retry_after_ms: float | None
    retry_after: str | None
    should_retry: str | None
    status: int | None


def _mask(key: str) -> str:
    """How OpenAI echoes a wrong key: first and last four characters."""
    return f"{key[:3]}{'*' * max(len(key) - 7, 4)}{key[-4:]}" if len(key) > 8 else "***"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeOpenAI(FakeServer[RecordedCall, Injection]):
    """A fake OpenAI API on ``host:port`` (port 0: a free one), started by ``async with``.

    ``api_keys``: the keys it accepts (empty: any non-empty key). ``models``: the models that
    exist (``None``: any). ``reply``: the assistant's answer, a string or a callable taking the
    request body; by default it echoes the last user message. ``context_window``: prompt tokens
    (words + 4 per message) above which it answers ``context_length_exceeded``.
    """

    client_max_size = 32 * 1024 * 1024

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        models: Iterable[str] | None = DEFAULT_MODELS,
        context_window: int = 128_000,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = set(api_keys)
        self.models = None if models is None else set(models)
        self.context_window = context_window
        self.reply: str | Callable[[dict[str, Any]], str] | None = None
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:<port>/v1`` (what ``base_url=`` takes)."""
        return f"http://{self.host}:{self.port}/v1"

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after_ms: float | None = None,
        retry_after: str | None = None,
        should_retry: str | None = None,
        status: int | None = None,
    ) -> Injection:
        """Make the next ``times`` requests (None: all) fail with ``kind``.

        ``retry_after_ms`` / ``retry_after`` / ``should_retry`` set the ``retry-after-ms`` /
        ``retry-after`` / ``x-should-retry`` headers of the answer (any fault kind); ``status``
        overrides "server_error"'s 500.
        """
        return self.queue(
            Injection(
                kind=kind,
                remaining=times,
                retry_after_ms=retry_after_ms,
                retry_after=retry_after,
                should_retry=should_retry,
                status=status,
            )
        )

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """OpenAI's error object, with ``x-request-id`` and, for a wait, both retry headers."""
        type_, code = _SHAPES.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        headers = self._headers(f"req_fake{next(self._ids):08d}") | self.retry_after(retry_after_s)
        if retry_after_s is not None:
            headers["retry-after-ms"] = f"{retry_after_s * 1000:g}"
        return self._error(status, type_, code, None, message, headers)

    # -- the server ------------------------------------------------------------------------------

    def _headers(self, request_id: str) -> dict[str, str]:
        return {
            "x-request-id": request_id,
            "openai-processing-ms": "42",
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "200000",
            "x-ratelimit-remaining-tokens": "199950",
            "x-ratelimit-reset-tokens": "15ms",
        }

    def _error(
        self,
        status: int,
        type_: str,
        code: str | None,
        param: str | None,
        message: str,
        headers: dict[str, str],
    ) -> web.Response:
        error = {"message": message, "type": type_, "param": param, "code": code}
        return web.json_response({"error": error}, status=status, headers=headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        call = RecordedCall(
            method=request.method, path=request.path, headers=dict(request.headers), body=body
        )
        self.calls.append(call)
        response = await self._respond(call)
        call.status = response.status
        return response

    async def _respond(self, call: RecordedCall) -> web.Response:
        headers = self._headers(f"req_fake{next(self._ids):08d}")
        key = call.api_key
        if not key:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return self._error(401, "invalid_request_error", None, None, message, headers)
        if self.api_keys and key not in self.api_keys:
            return self._error(*self._invalid_key(key), headers)
        body = call.body if isinstance(call.body, dict) else {}
        model = str(body.get("model", ""))
        if (injection := self.take_injection()) is not None:
            return self._fault(injection, model, headers)
        if not isinstance(body.get("messages"), list) or not model:
            missing = "messages" if not isinstance(body.get("messages"), list) else "model"
            message = f"Missing required parameter: '{missing}'."
            code = "missing_required_parameter"
            return self._error(400, "invalid_request_error", code, missing, message, headers)
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            code = "model_not_found"
            return self._error(404, "invalid_request_error", code, None, message, headers)
        prompt_tokens = self._prompt_tokens(body)
        if prompt_tokens > self.context_window:
            return self._context_error(prompt_tokens, headers)
        return web.json_response(self._completion(body, model, prompt_tokens), headers=headers)

    def _invalid_key(self, key: str) -> tuple[int, str, str | None, str | None, str]:
        message = (
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return 401, "invalid_request_error", "invalid_api_key", None, message

    def _prompt_tokens(self, body: dict[str, Any]) -> int:
        messages = body.get("messages") or []
        return sum(4 + _tokens(str(m.get("content", ""))) for m in messages if isinstance(m, dict))

    def _context_error(self, tokens: int, headers: dict[str, str]) -> web.Response:
        message = _CONTEXT_LENGTH.format(window=self.context_window, tokens=tokens)
        code = "context_length_exceeded"
        return self._error(400, "invalid_request_error", code, "messages", message, headers)

    def _fault(self, injection: Injection, model: str, headers: dict[str, str]) -> web.Response:
        if injection.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{injection.retry_after_ms:g}"
        if injection.retry_after is not None:
            headers["retry-after"] = injection.retry_after
        if injection.should_retry is not None:
            headers["x-should-retry"] = injection.should_retry
        if injection.kind == "rate_limit":
            headers["x-ratelimit-remaining-requests"] = "0"
        status, type_, code, param, template = _FAULTS[injection.kind]
        if injection.kind == "server_error" and injection.status:
            status = injection.status
        message = template.format(model=model or "gpt-4o-mini")
        return self._error(status, type_, code, param, message, headers)

    def _answer(self, body: dict[str, Any]) -> str:
        if callable(self.reply):
            return self.reply(body)
        if self.reply is not None:
            return self.reply
        users = [
            m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"
        ]
        return f"You said: {users[-1].get('content', '')}" if users else "Hello! How can I help?"

    def _completion(self, body: dict[str, Any], model: str, prompt_tokens: int) -> dict[str, Any]:
        words = self._answer(body).split(" ")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and len(words) > limit:
            words, finish_reason = words[:limit], "length"
        text = " ".join(words)
        completion_tokens = _tokens(text)
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }


_HELLO = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hello"}],
}

CONTRACT_KEY = "sk-proj-contract0Vd3kX9qL2mT7wR4yB8nF1cH6jP0sA5eZ"
CONTRACT = ContractSubject(
    service="openai",
    fake=lambda: FakeOpenAI(api_keys={CONTRACT_KEY}),
    credentials={"api_key": CONTRACT_KEY},
    configs={"openai_chat_completion": _HELLO},
    # OpenAI's 403 is an unsupported region or a project without the model: not the key.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "openai_chat_completion": [
            ({"messages": _HELLO["messages"]}, "model"),
            ({"model": "gpt-4o"}, "messages"),
            ({"model": "gpt-4o", "messages": []}, "messages"),
            ({**_HELLO, "messages": [{"role": "tool", "content": "x"}]}, "role"),
            ({**_HELLO, "messages": [{"role": "user", "content": ""}]}, "content"),
            ({**_HELLO, "messages": [{"role": "user"}]}, "content"),
            ({**_HELLO, "temperature": 2.5}, "temperature"),
            ({**_HELLO, "max_completion_tokens": 0}, "max_completion_tokens"),
            ({**_HELLO, "max_tokens": 10}, "max_tokens"),  # deprecated: use max_completion_tokens
            ({**_HELLO, "stream": True}, "stream"),
            ({**_HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
            ({**_HELLO, "model": "gpt 4o"}, "model"),
            ({**_HELLO, "response_format": {"type": "json_schema"}}, "response_format"),
        ],
    },
)
