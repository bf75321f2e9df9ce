"""openai_chat_completion: the official SDK against the fake OpenAI API over a real socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.context import RequestContext, SendRefusedError, executing
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpClients
from integrations.openai.chat_completion import METADATA, OpenAIChatCompletionIntegration
from integrations.openai.testing import FakeOpenAI
from integrations.outcome import OutcomeCategory, classify
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
        ({"retry_after_ms": 250, "retry_after": "9"}, 0.25),  # -ms wins, as in the SDK
        ({"retry_after": "121"}, 121.0),  # the SDK would give up silently; we pass it on
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
    assert classify(caught.value).maybe_executed is False
    assert api_key not in repr(classify(caught.value))
    assert len(fake.calls) == 1
    returned = await ask(action, HELLO, resolver, logger, bot_id)  # one-shot fault
    assert returned["response"]["ok"] is True


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (409, {}, TransientError),  # the table says permanent; the SDK retries a conflict
        (403, {}, PermanentError),  # a region or a project without the model: not the key
        (400, {"x-should-retry": "true"}, TransientError),
    ],
)
async def test_openais_own_status_meanings(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    status: int,
    headers: dict[str, str],
    expected: type[IntegrationError],
) -> None:
    body = {"error": {"message": "no", "type": "invalid_request_error", "code": None}}
    fake.fail_next(status, body=body, headers=headers)
    with pytest.raises(IntegrationError) as caught:
        await ask(action, HELLO, resolver, logger, bot_id)
    assert (type(caught.value), caught.value.code) == (expected, status)
    said = f"OpenAI POST /chat/completions: HTTP {status} invalid_request_error: no"
    assert caught.value.message.startswith(said)


async def test_a_refused_send_gate_is_not_wrapped_by_the_sdk(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    class Closed:
        async def __call__(self) -> None:
            raise SendRefusedError("the lease is gone")

        def recheck(self) -> None:
            raise SendRefusedError("the lease is gone")

    context = RequestContext(request_id="r", bot_id=bot_id, idempotency_key="r", gate=Closed())
    with executing(context), pytest.raises(SendRefusedError):
        await ask(action, HELLO, resolver, logger, bot_id)
    assert fake.requests == []


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
    # OpenAI's masked echo ("Incorrect" itself goes: "invalid_api_key: Incorrect" reads as a
    # key-value pair to the redaction patterns)
    assert "API key provided: sk-" in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert "OpenAI request failed" in caplog.text
    assert wrong not in caplog.text
    assert wrong[-12:] not in caplog.text


async def test_malformed_credentials_name_the_field(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
) -> None:
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute(HELLO, make_resolver({bot_id: {"key": "sk-x"}}), bot_id, logger)
    assert fake.calls == []


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


def test_metadata_values() -> None:
    meta = OpenAIChatCompletionIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("openai", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("non_idempotent", False)
    assert meta.on_unknown_outcome.value == "reexecute"
    assert meta.timeout_s > OpenAIChatCompletionIntegration.http_timeout_s
