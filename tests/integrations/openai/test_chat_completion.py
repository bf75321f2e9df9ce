"""openai_chat_completion: the official SDK against the fake OpenAI API over a real socket.

Only what is OpenAI's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.context import RequestContext, SendRefusedError, executing
from integrations.openai.chat_completion import OpenAIChatCompletionIntegration
from integrations.openai.testing import FakeOpenAI
from integrations.outcome import OutcomeCategory, classify
from support.integrations import Run
from support.resolvers import StubResolver

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
Resolver = Callable[[dict[str, Any] | None], Any]
Arrange = Callable[[FakeOpenAI], object]


async def test_answer_finish_reason_and_usage(
    run: Run, fake: FakeOpenAI, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run(HELLO)
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


async def test_options_reach_openai_and_length_is_reported(run: Run, fake: FakeOpenAI) -> None:
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
    returned = await run(config)
    assert fake.calls[0].body == config
    result = returned["response"]["result"]
    assert (result["text"], result["finish_reason"]) == ("one two three", "length")


async def test_each_bot_sends_its_own_key_org_and_project(
    action: OpenAIChatCompletionIntegration,
    fake: FakeOpenAI,
    logger: BotLogger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-of-the-worker-host")  # must not leak into requests
    keys = {f"bot-{i}": f"sk-bot{i}-{'x' * 40}" for i in range(5)}
    fake.api_keys = set(keys.values())
    creds: dict[str, dict[str, Any]] = {b: {"api_key": k} for b, k in keys.items()}
    creds["bot-0"].update(organization="org-zero", project="proj_zero")
    resolver = StubResolver.per_bot(creds)
    await asyncio.gather(
        *(action.execute(HELLO, resolver, f"bot-{n % 5}", logger) for n in range(20))
    )
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
    run: Run, fake: FakeOpenAI, headers: dict[str, Any], expected: float
) -> None:
    fake.inject("rate_limit", **headers)
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(HELLO)
    assert caught.value.retry_after_s == expected
    assert caught.value.code == 429
    assert "rate_limit_exceeded" in caught.value.message
    assert caught.value.parameters["request_id"].startswith("req_fake")
    outcome = classify(caught.value)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == expected
    assert len(fake.requests) == 1  # max_retries=0: the processor owns retries


def inject(kind: Any, **options: Any) -> Arrange:
    return lambda fake: fake.inject(kind, **options)


def answer(status: int, **headers: str) -> Arrange:
    body = {"error": {"message": "no", "type": "invalid_request_error", "code": None}}
    return lambda fake: fake.fail_next(status, body=body, headers=headers)


def context_window(tokens: int) -> Arrange:
    return lambda fake: setattr(fake, "context_window", tokens)


def untouched(fake: FakeOpenAI) -> None:
    """The fake as it is: the config alone makes OpenAI refuse it."""


LONG = {**HELLO, "messages": [{"role": "user", "content": "word " * 20}]}


@pytest.mark.parametrize(
    ("arrange", "config", "expected", "code", "says"),
    [
        pytest.param(inject("insufficient_quota"), HELLO, errors.PermanentError, 429,
                     "(out of quota: check the plan and billing)", id="insufficient-quota"),
        pytest.param(inject("request_too_large", retry_after_ms=100), HELLO,
                     errors.PermanentError, 429, "HTTP 429 rate_limit_exceeded: Request too large",
                     id="request-too-large"),
        pytest.param(inject("server_error", should_retry="false"), HELLO, errors.PermanentError,
                     500, "(x-should-retry: false)", id="500-should-not-retry"),
        pytest.param(inject("rate_limit", should_retry="false"), HELLO, errors.PermanentError, 429,
                     "(x-should-retry: false)", id="429-should-not-retry"),
        # the status table says permanent; the SDK retries a conflict
        pytest.param(answer(409), HELLO, errors.TransientError, 409,
                     "HTTP 409 invalid_request_error: no", id="409"),
        pytest.param(answer(400, **{"x-should-retry": "true"}), HELLO, errors.TransientError, 400,
                     "HTTP 400 invalid_request_error: no", id="400-should-retry"),
        pytest.param(untouched, {**HELLO, "model": "gpt-9-ultra"}, errors.PermanentError, 404,
                     "HTTP 404 model_not_found: The model `gpt-9-ultra`", id="unknown-model"),
        pytest.param(context_window(10), LONG, errors.PermanentError, 400,
                     "maximum context length is 10 tokens", id="context-overflow"),
    ],
)  # fmt: skip
async def test_openais_own_answers_become_typed_errors(
    run: Run,
    fake: FakeOpenAI,
    api_key: str,
    arrange: Arrange,
    config: dict[str, Any],
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
) -> None:
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(config)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert error.message.startswith("OpenAI POST /chat/completions: HTTP ")
    assert says in error.message
    outcome = classify(error)
    assert outcome.maybe_executed is False
    assert api_key not in repr(outcome)
    assert len(fake.requests) == 1  # max_retries=0: the processor owns retries
    assert (await run(HELLO))["response"]["ok"] is True  # nothing of it stays


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

    context = RequestContext(request_id="r", bot_id=bot_id, idempotency_key="r", gate=Closed())
    with executing(context), pytest.raises(SendRefusedError):
        await action.execute(HELLO, resolver, bot_id, logger)
    assert fake.requests == []


async def test_wrong_key_is_auth_and_never_leaks(
    run: Run, make_resolver: Resolver, logger: BotLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx's own loggers included
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "sk-proj-WRONGwrongWRONGwrong0123456789abcdefABCDEF"
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver({"api_key": wrong}))
    # OpenAI's words stay; its masked echo of the key (sk-pro****CDEF) does not
    assert "Incorrect API key provided: " in caught.value.message
    assert wrong[-4:] not in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert "OpenAI request failed" in caplog.text
    assert wrong not in caplog.text
    assert wrong[-12:] not in caplog.text


@pytest.mark.parametrize("creds", [{"key": "sk-x"}, {"api_key": "  "}, {"api_key": 42}])
async def test_malformed_credentials_name_the_field(
    run: Run, fake: FakeOpenAI, make_resolver: Resolver, creds: dict[str, Any]
) -> None:
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(HELLO, credentials=make_resolver(creds))
    assert fake.requests == []


def test_metadata_values() -> None:
    meta = OpenAIChatCompletionIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("openai", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("non_idempotent", False)
    assert meta.on_unknown_outcome.value == "reexecute"
    assert meta.timeout_s > OpenAIChatCompletionIntegration.http_timeout_s
