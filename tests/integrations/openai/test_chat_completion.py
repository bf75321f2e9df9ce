"""openai_chat_completion: the official SDK against the fake OpenAI API over a real socket."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.discovery import discover
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpClients
from integrations.openai.chat_completion import METADATA, OpenAIChatCompletionIntegration
from integrations.openai.client import retry_after_s
from integrations.openai.fake import FakeOpenAI
from integrations.outcome import OutcomeCategory, classify
from integrations.registry import IntegrationRegistry
from processors.settings import EndpointSettings

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
Resolver = Callable[[dict[str, dict[str, Any]]], Any]


async def ask(
    action: OpenAIChatCompletionIntegration,
    config: dict[str, Any],
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_answer_finish_reason_and_usage(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
) -> None:
    returned = await ask(action, HELLO, resolver, logger, bot_id)
    result = returned["response"]["result"]
    assert result["text"] == "You said: hello there"
    assert result["finish_reason"] == "stop"
    assert result["model"] == "gpt-4o-mini"
    assert result["refusal"] is None
    assert result["id"].startswith("chatcmpl-")
    assert result["usage"] == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    assert resolver.calls == [(bot_id, "openai", "api_key")]
    [call] = fake.calls
    assert call.path == "/v1/chat/completions"
    assert call.api_key == api_key
    assert call.body == HELLO
    assert call.headers["x-stainless-retry-count"] == "0"
    assert "Idempotency-Key" not in call.headers  # OpenAI takes none; the SDK sends none
    assert "OpenAI-Organization" not in call.headers
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_options_reach_openai_and_length_is_reported(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    fake.reply = "one two three four five six"
    config = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Count", "name": "alice"},
            {"role": "assistant", "content": "Sure"},
            {"role": "user", "content": "Go"},
        ],
        "max_completion_tokens": 3,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
        "response_format": {"type": "text"},
        "safety_identifier": "user-42",
    }
    returned = await ask(action, config, resolver, logger, bot_id)
    assert fake.calls[0].body == config
    result = returned["response"]["result"]
    assert (result["text"], result["finish_reason"]) == ("one two three", "length")


async def test_each_bot_sends_its_own_key_org_and_project(
    action: OpenAIChatCompletionIntegration,
    make_resolver: Resolver,
    logger: BotLogger,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-of-the-worker-host")  # must not leak into requests
    keys = {f"bot-{i}": f"sk-bot{i}-{'x' * 40}" for i in range(5)}
    creds: dict[str, dict[str, Any]] = {b: {"api_key": k} for b, k in keys.items()}
    creds["bot-0"].update(organization="org-zero", project="proj_zero")
    async with FakeOpenAI() as fake:  # any key accepted
        clients = HttpClients({"openai": EndpointSettings(base_url=fake.url)})
        action = OpenAIChatCompletionIntegration(clients)
        resolver = make_resolver(creds)
        try:
            await asyncio.gather(
                *(action.execute(HELLO, resolver, f"bot-{n % 5}", logger) for n in range(20))
            )
        finally:
            await clients.aclose()
    assert sorted(c.api_key or "" for c in fake.calls) == sorted(list(keys.values()) * 4)
    for call in fake.calls:
        if call.api_key == keys["bot-0"]:
            assert call.headers["OpenAI-Organization"] == "org-zero"
            assert call.headers["OpenAI-Project"] == "proj_zero"
        else:
            assert "OpenAI-Organization" not in call.headers
            assert "OpenAI-Project" not in call.headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after_ms": 1500}, 1.5),
        ({"retry_after": "2.5"}, 2.5),
        ({"retry_after_ms": 250, "retry_after": "9"}, 0.25),  # -ms wins, as in the SDK
        ({"retry_after": "121"}, 121.0),  # the SDK would give up silently; we pass it on
        ({}, None),
    ],
)
async def test_rate_limit_carries_the_retry_hint_and_makes_one_attempt(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    headers: dict[str, Any],
    expected: float | None,
) -> None:
    fake.inject("rate_limit", **headers)
    with pytest.raises(RateLimitedError) as caught:
        await ask(action, HELLO, resolver, logger, bot_id)
    assert caught.value.retry_after_s == expected
    assert caught.value.code == 429
    assert "rate_limit_exceeded" in caught.value.message
    assert caught.value.parameters["request_id"].startswith("req_fake")
    outcome = classify(caught.value)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == expected
    assert len(fake.calls) == 1  # max_retries=0: the processor owns retries


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s(httpx.Headers({"retry-after": date}), now=now) == pytest.approx(30, abs=1)
    assert retry_after_s(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_s(httpx.Headers({"retry-after-ms": "x", "retry-after": "3"})) == 3


@pytest.mark.parametrize(
    ("kind", "options", "expected", "code", "category", "words"),
    [
        ("insufficient_quota", {}, PermanentError, 429, OutcomeCategory.PERMANENT, "quota"),
        (
            "request_too_large",
            {"retry_after_ms": 100},
            PermanentError,
            429,
            OutcomeCategory.PERMANENT,
            "Request too large",
        ),
        ("invalid_api_key", {}, AuthError, 401, OutcomeCategory.AUTH, "Incorrect API key"),
        ("permission_denied", {}, PermanentError, 403, OutcomeCategory.PERMANENT, "territory"),
        ("context_length", {}, PermanentError, 400, OutcomeCategory.PERMANENT, "context length"),
        ("server_error", {}, TransientError, 500, OutcomeCategory.TRANSIENT, "server had an"),
        ("server_error", {"status": 502}, TransientError, 502, OutcomeCategory.TRANSIENT, "502"),
        ("overloaded", {}, TransientError, 503, OutcomeCategory.TRANSIENT, "overloaded"),
        (
            "server_error",
            {"should_retry": "false"},
            PermanentError,
            500,
            OutcomeCategory.PERMANENT,
            "x-should-retry",
        ),
        (
            "rate_limit",
            {"should_retry": "false"},
            PermanentError,
            429,
            OutcomeCategory.PERMANENT,
            "x-should-retry",
        ),
        ("disconnect", {}, OutcomeUnknownError, 502, OutcomeCategory.TRANSIENT, "connection"),
    ],
)
async def test_injected_errors_become_typed_errors(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
    kind: str,
    options: dict[str, Any],
    expected: type[IntegrationError],
    code: int,
    category: OutcomeCategory,
    words: str,
) -> None:
    fake.inject(kind, **options)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await ask(action, HELLO, resolver, logger, bot_id)
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert words in caught.value.message
    assert classify(caught.value).category is category
    assert classify(caught.value).maybe_executed is (expected is OutcomeUnknownError)
    assert api_key not in repr(classify(caught.value))
    assert len(fake.calls) == 1
    returned = await ask(action, HELLO, resolver, logger, bot_id)  # one-shot fault
    assert returned["response"]["ok"] is True


async def test_unknown_model_is_permanent(
    action: OpenAIChatCompletionIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    config = {**HELLO, "model": "gpt-9-ultra"}
    with pytest.raises(PermanentError) as caught:
        await ask(action, config, resolver, logger, bot_id)
    assert caught.value.code == 404
    assert "model_not_found" in caught.value.message
    assert "gpt-9-ultra" in caught.value.message


async def test_real_context_overflow_from_the_fake(
    fake: FakeOpenAI,
    action: OpenAIChatCompletionIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    fake.context_window = 10
    config = {**HELLO, "messages": [{"role": "user", "content": "word " * 20}]}
    with pytest.raises(PermanentError, match="maximum context length is 10 tokens"):
        await ask(action, config, resolver, logger, bot_id)


async def test_wrong_key_is_auth_and_never_leaks(
    action: OpenAIChatCompletionIntegration,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's own loggers included
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "sk-proj-WRONGwrongWRONGwrong0123456789abcdefABCDEF"
    with pytest.raises(AuthError) as caught:
        await ask(action, HELLO, make_resolver({bot_id: {"api_key": wrong}}), logger, bot_id)
    assert "Incorrect API key provided: sk-" in caught.value.message  # OpenAI's masked echo
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert "openai completion failed" in caplog.text
    assert wrong not in caplog.text
    assert wrong[-12:] not in caplog.text


async def test_missing_or_malformed_credentials(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
) -> None:
    returned = await action.execute(HELLO, make_resolver({}), bot_id, logger)
    assert returned == {
        "response": {"ok": False, "error_code": 401, "description": "Credentials not found"}
    }
    assert classify(returned).category is OutcomeCategory.AUTH
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute(HELLO, make_resolver({bot_id: {"key": "sk-x"}}), bot_id, logger)
    assert fake.calls == []


async def test_timeout_and_refused_connection_are_transient(
    fake: FakeOpenAI, resolver: Any, logger: BotLogger, bot_id: str
) -> None:
    slow = HttpClients({"openai": EndpointSettings(base_url=fake.url, timeout_s=0.3)})
    fake.inject("timeout", delay_s=5)
    try:
        with pytest.raises(TransientError) as caught:
            await ask(OpenAIChatCompletionIntegration(slow), HELLO, resolver, logger, bot_id)
    finally:
        await slow.aclose()
    assert type(caught.value) is OutcomeUnknownError  # sent: the completion may have run
    assert caught.value.code == 504
    assert classify(caught.value).maybe_executed is True
    assert len(fake.calls) == 1

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = HttpClients({"openai": EndpointSettings(base_url=f"http://127.0.0.1:{port}/v1")})
    try:
        with pytest.raises(TransientError) as caught:
            await ask(OpenAIChatCompletionIntegration(refused), HELLO, resolver, logger, bot_id)
    finally:
        await refused.aclose()
    assert type(caught.value) is TransientError  # never sent
    assert caught.value.code == 503
    assert classify(caught.value).maybe_executed is False


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"messages": HELLO["messages"]}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({**HELLO, "messages": [{"role": "tool", "content": "x"}]}, "role"),
        ({**HELLO, "messages": [{"role": "user", "content": ""}]}, "content"),
        ({**HELLO, "messages": [{"role": "user"}]}, "content"),
        ({**HELLO, "temperature": 2.5}, "temperature"),
        ({**HELLO, "max_completion_tokens": 0}, "max_completion_tokens"),
        ({**HELLO, "max_tokens": 10}, "max_tokens"),  # deprecated: use max_completion_tokens
        ({**HELLO, "stream": True}, "stream"),
        ({**HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({**HELLO, "model": "gpt 4o"}, "model"),
        ({**HELLO, "response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
def test_config_schema_rejects(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert problem in caught.value.message


def test_metadata_and_registration() -> None:
    meta = OpenAIChatCompletionIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == ("openai_chat_completion", "1.0.0", "ai")
    assert (meta.icon_s3_key, meta.color) == ("icons/integrations/openai.svg", "#10A37F")
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("openai", "api_key")
    assert meta.library_name == "openai"
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("non_idempotent", False)
    assert meta.on_unknown_outcome.value == "reexecute"
    assert meta.rate_limits == ()
    registry = IntegrationRegistry()
    report = discover(registry, ("openai",), entry_point_group=None)
    assert report.registered == ("openai_chat_completion@1.0.0",)
    assert registry.metadata("openai_chat_completion") == meta


async def test_seed_style_zero_arg_construction_reads_the_environment(
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # ours wins over the SDK's
    action = OpenAIChatCompletionIntegration()
    try:
        returned = await ask(action, HELLO, resolver, logger, bot_id)
    finally:
        await action.aclose()
    assert returned["response"]["ok"] is True
    assert len(fake.calls) == 1
