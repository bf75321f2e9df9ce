"""yandexgpt_completion against the fake Foundation Models API over a real loopback socket.

Only what is YandexGPT's own (and Yandex Cloud's): the cases every integration shares are in
``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.outcome import OutcomeCategory, classify
from integrations.yandexgpt.completion import YandexGPTCompletionIntegration
from integrations.yandexgpt.testing import REFUSAL, FakeYandexGPT
from support.integrations import Run, http_clients

Resolver = Callable[[dict[str, Any] | None], Any]
HELLO = {"messages": [{"role": "user", "text": "hello there"}]}
TOKEN = "t1.9euelZqContractIamToken0123456789abcdefABCDEF"
OTHER_FOLDER = "b1gotherfolder000000"


async def test_answer_usage_and_the_api_key_wire(
    run: Run, fake: FakeYandexGPT, resolver: Any, bot_id: str, api_key: str, folder_id: str
) -> None:
    returned = await run(HELLO)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "text": "You said: hello there",
        "role": "assistant",
        "status": "ALTERNATIVE_STATUS_FINAL",
        "finish_reason": "stop",
        "model": "yandexgpt/latest",
        "model_version": "23.10.2024",
        "usage": {"input_text_tokens": 6, "completion_tokens": 4, "total_tokens": 10},
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/foundationModels/v1/completion")
    assert call.body == {
        "modelUri": f"gpt://{folder_id}/yandexgpt/latest",
        "completionOptions": {"stream": False},
        "messages": HELLO["messages"],
    }
    assert (call.scheme, call.credential) == ("Api-Key", api_key)
    assert "x-folder-id" not in {name.lower() for name in call.headers}  # not with an API key
    assert resolver.calls == [(bot_id, "yandexgpt", "api_key")]
    assert api_key not in repr(returned)


async def test_model_branch_and_options_reach_yandex_and_length_is_reported(
    run: Run, fake: FakeYandexGPT, folder_id: str
) -> None:
    fake.reply = "one two three four five"
    config = {
        "model": "yandexgpt-lite",
        "branch": "rc",
        "messages": [
            {"role": "system", "text": "Be brief."},
            {"role": "user", "text": "Count"},
            {"role": "assistant", "text": "Sure"},
            {"role": "user", "text": "Go"},
        ],
        "temperature": 0.2,
        "max_tokens": 3,
    }
    result = (await run(config))["response"]["result"]
    body = fake.calls[0].body
    assert body["modelUri"] == f"gpt://{folder_id}/yandexgpt-lite/rc"
    assert body["completionOptions"] == {"stream": False, "temperature": 0.2, "maxTokens": "3"}
    assert body["messages"] == config["messages"]
    assert (result["text"], result["finish_reason"]) == ("one two three", "length")
    assert result["status"] == "ALTERNATIVE_STATUS_TRUNCATED_FINAL"


async def test_the_content_filter_is_an_answer_that_says_so(run: Run) -> None:
    config = {"messages": [{"role": "user", "text": "tell me about forbidden-topic"}]}
    result = (await run(config))["response"]["result"]
    assert (result["text"], result["finish_reason"]) == (REFUSAL, "content_filter")


async def test_an_iam_token_is_a_bearer_with_the_folder_header(
    run: Run, make_resolver: Resolver, folder_id: str
) -> None:
    async with (
        FakeYandexGPT(iam_tokens={TOKEN: {folder_id}}) as fake,
        http_clients("yandexgpt", base_url=fake.url) as clients,
    ):
        credentials = make_resolver({"iam_token": TOKEN, "folder_id": folder_id})
        action = YandexGPTCompletionIntegration(clients)
        returned = await run(HELLO, integration=action, credentials=credentials)
    assert returned["response"]["ok"] is True
    [call] = fake.calls
    assert (call.scheme, call.credential) == ("Bearer", TOKEN)
    assert call.headers["x-folder-id"] == folder_id


async def test_an_api_key_wins_over_a_stored_iam_token(
    run: Run, fake: FakeYandexGPT, make_resolver: Resolver, api_key: str, folder_id: str
) -> None:
    both = make_resolver({"api_key": api_key, "iam_token": TOKEN, "folder_id": folder_id})
    await run(HELLO, credentials=both)
    assert (fake.calls[0].scheme, fake.calls[0].credential) == ("Api-Key", api_key)


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        ({"folder_id": "b1gcontract000000gpt"}, "no 'api_key' or 'iam_token'"),
        ({"api_key": "  ", "folder_id": "b1gcontract000000gpt"}, "no 'api_key' or 'iam_token'"),
        ({"api_key": "AQVN-key-without-folder"}, "no 'folder_id' (needed in every request"),
        ({"iam_token": TOKEN}, "no 'folder_id' (needed with an IAM token)"),
        ({"api_key": "AQVN-key-0123", "folder_id": "B1G-NOT-A-FOLDER"}, "'folder_id' 'B1G-NOT"),
        ({"api_key": "AQVN-key-0123", "folder_id": "b1g" + "a" * 18}, "is not a Yandex Cloud"),
        ({"api_key": "AQVN-key-0123", "folder_id": 42}, "'folder_id' 42 is not"),
        ({"api_key": "AQVN key\nwith-newline", "folder_id": "b1gcontract000000gpt"},
         "'api_key' must be 8 to 4096 printable ASCII"),
    ],
)  # fmt: skip
async def test_malformed_credentials_name_the_field_and_call_nothing(
    run: Run, fake: FakeYandexGPT, make_resolver: Resolver, stored: dict[str, Any], says: str
) -> None:
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver(stored))
    assert says in caught.value.message
    assert "AQVN key" not in caught.value.message  # a secret is never echoed
    assert fake.requests == []


@pytest.mark.parametrize(
    ("kind", "expected", "code", "says"),
    [
        ("resource_exhausted", errors.RateLimitedError, 429, "HTTP 429 RESOURCE_EXHAUSTED"),
        ("unauthenticated", errors.AuthError, 401, "HTTP 401 UNAUTHENTICATED"),
        ("permission_denied", errors.AuthError, 403,
         "the account needs the 'ai.languageModels.user' role on the folder"),
        ("invalid_argument", errors.InvalidConfigError, 400, "HTTP 400 INVALID_ARGUMENT"),
        ("failed_precondition", errors.PermanentError, 400, "Billing account is not active"),
        ("unavailable", errors.TransientError, 503, "HTTP 503 UNAVAILABLE"),
    ],
)  # fmt: skip
async def test_yandex_status_codes_become_typed_errors(
    run: Run,
    fake: FakeYandexGPT,
    api_key: str,
    folder_id: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await run(HELLO)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert error.message.startswith(f"YandexGPT completion (folder {folder_id}): ")
    assert says in error.message
    assert error.parameters["grpc_code"] > 0 and error.parameters["request_id"]
    outcome = classify(error)
    assert outcome.maybe_executed is False  # nothing changes at Yandex
    assert outcome.retry_after_s is None  # Yandex documents no wait: the processor backs off
    assert "YandexGPT request failed" in caplog.text
    assert api_key not in caplog.text
    assert (await run(HELLO))["response"]["ok"] is True  # a one-shot fault


@pytest.mark.parametrize(
    "body",
    [
        {"code": 8, "message": "quota", "details": []},
        {"error": {"grpcCode": 8, "httpCode": 429, "message": "quota", "httpStatus": "Too Many"}},
        {"code": 8, "message": "quota", "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]},
    ],
    ids=["plain-status", "wrapped", "retry-info"],
)  # fmt: skip
async def test_both_status_shapes_are_read(
    run: Run, fake: FakeYandexGPT, body: dict[str, Any]
) -> None:
    fake.fail_next(429, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(HELLO)
    assert "RESOURCE_EXHAUSTED: quota" in caught.value.message
    assert caught.value.retry_after_s == (2.5 if body.get("details") else None)


async def test_a_folder_the_key_has_no_role_in_is_auth_naming_folder_and_role(
    run: Run, fake: FakeYandexGPT, make_resolver: Resolver, api_key: str
) -> None:
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver({"api_key": api_key, "folder_id": OTHER_FOLDER}))
    assert caught.value.code == 403
    assert f"resource-manager.folder {OTHER_FOLDER}" in caught.value.message
    assert "'ai.languageModels.user' role" in caught.value.message


async def test_a_rejected_key_never_reaches_messages_or_logs(
    run: Run, make_resolver: Resolver, logger: BotLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "AQVNwrongWRONGwrong0123456789abcdefABCD"
    with pytest.raises(errors.AuthError) as caught:
        await run(
            HELLO,
            credentials=make_resolver({"api_key": wrong, "folder_id": "b1gcontract000000gpt"}),
        )
    assert "Unknown api key" in caught.value.message  # Yandex's words stay, its echo goes
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert wrong not in caplog.text


async def test_a_slow_model_is_in_doubt_and_asked_again(run: Run, folder_id: str) -> None:
    async with (
        FakeYandexGPT() as fake,
        http_clients("yandexgpt", base_url=fake.url, timeout_s=0.3) as clients,
    ):
        fake.stall_next(3.0)
        with pytest.raises(errors.TransientError) as caught:
            await run(HELLO, integration=YandexGPTCompletionIntegration(clients))
    assert "no answer in time" in caught.value.message
    outcome = classify(caught.value)  # the request left: it may be billed, and is asked again
    assert outcome.maybe_executed is True
    assert YandexGPTCompletionIntegration().metadata.on_unknown_outcome.value == "reexecute"


def test_metadata_values() -> None:
    meta = YandexGPTCompletionIntegration().metadata
    assert (meta.category.value, meta.credentials_provider) == ("ai", "yandexgpt")
    assert (meta.credentials_strategy.value, meta.library_name) == ("api_key", "httpx")
    # As openai_chat_completion: a repeat is a second billed completion, asked again when lost.
    assert (meta.side_effect.value, meta.on_unknown_outcome.value) == (
        "non_idempotent",
        "reexecute",
    )
    assert meta.timeout_s > YandexGPTCompletionIntegration.http_timeout_s
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 10, 1.0)
    ]
