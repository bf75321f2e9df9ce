"""vk_send_message against the fake VK API over a real loopback socket.

Only what is VK's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.context import RequestContext, executing
from integrations.outcome import OutcomeCategory, classify
from integrations.vk.client import API_VERSION, random_id
from integrations.vk.send_message import VKSendMessageIntegration
from integrations.vk.testing import FakeVK
from support.integrations import Run, http_clients

Arrange = Callable[[FakeVK], object]
PEER = 2000000001  # a chat
HELLO = {"peer_id": PEER, "message": "Привет из бота"}


def random_id_of(key: str) -> int:
    context = RequestContext(request_id=key, bot_id="b", idempotency_key=key)
    with executing(context):
        return random_id()


async def test_sends_a_form_post_with_the_token_in_the_header_only(
    run: Run, fake: FakeVK, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run(HELLO, key="req-1")
    [call] = fake.calls
    assert (call.method, call.api_method) == ("POST", "messages.send")
    assert call.content_type == "application/x-www-form-urlencoded"
    assert (call.token, call.auth_in) == (api_key, "header")
    assert call.params == {
        "peer_id": str(PEER),
        "message": "Привет из бота",
        "random_id": str(random_id_of("req-1")),
        "v": API_VERSION,
    }
    assert api_key not in str(fake.requests[0].path)
    assert resolver.calls == [(bot_id, "vk", "api_key")]
    [message] = fake.messages
    assert (message.peer_id, message.text) == (PEER, "Привет из бота")
    assert returned["response"] == {
        "ok": True,
        "result": {"message_id": message.id, "peer_id": PEER, "random_id": message.random_id},
    }
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_attachments_and_flags_are_sent_as_vk_spells_them(run: Run, fake: FakeVK) -> None:
    config = {
        "peer_id": -12345,  # a community
        "attachment": ["photo100172_166443618", "doc-1_2_abcDEF123"],
        "dont_parse_links": True,
        "disable_mentions": False,
    }
    await run(config)
    params = fake.calls[0].params
    assert params["attachment"] == "photo100172_166443618,doc-1_2_abcDEF123"
    assert params["dont_parse_links"] == "1"
    assert "disable_mentions" not in params and "message" not in params
    assert fake.messages[0].attachment == params["attachment"]


def test_random_id_is_a_stable_nonzero_signed_int32_per_key() -> None:
    ids = {key: random_id_of(key) for key in (f"req-{n}" for n in range(200))}
    assert all(-(2**31) <= value < 2**31 and value != 0 for value in ids.values())
    assert ids == {key: random_id_of(key) for key in ids}  # the same key, the same id
    assert len(set(ids.values())) == len(ids)  # different requests, different ids
    assert any(value < 0 for value in ids.values())  # the whole signed range is used


async def test_every_attempt_of_one_request_is_one_message(run: Run, fake: FakeVK) -> None:
    first = await run(HELLO, key="req-7", attempt=1)
    again = await run(HELLO, key="req-7", attempt=2)
    other = await run(HELLO, key="req-8")
    assert first == again
    assert other["response"]["result"]["message_id"] != first["response"]["result"]["message_id"]
    assert len(fake.calls) == 3
    assert [m.random_id for m in fake.messages] == [random_id_of("req-7"), random_id_of("req-8")]


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        pytest.param(lambda fake: fake.inject("lost_answer"), 502, id="sent-then-cut"),
        pytest.param(lambda fake: fake.inject("internal", deliver=True), 502, id="sent-then-10"),
        pytest.param(lambda fake: fake.inject("unknown", deliver=True), 502, id="sent-then-1"),
    ],
)
async def test_a_lost_answer_is_resolved_by_the_same_random_id(
    run: Run, fake: FakeVK, arrange: Arrange, code: int
) -> None:
    arrange(fake)
    with pytest.raises(errors.OutcomeUnknownError) as caught:
        await run(HELLO, key="req-lost")
    assert caught.value.code == code
    outcome = classify(caught.value)
    assert (outcome.category, outcome.maybe_executed) == (OutcomeCategory.TRANSIENT, True)
    assert len(fake.messages) == 1  # VK did send it
    returned = await run(HELLO, key="req-lost", attempt=2)  # the processor's retry
    assert returned["response"]["result"]["message_id"] == fake.messages[0].id
    assert len(fake.messages) == 1  # deduplicated: no second message


async def test_a_send_answered_too_late_and_retried_is_one_message(run: Run, fake: FakeVK) -> None:
    fake.inject("slow_answer", delay_s=0.5)  # VK sent it, its answer comes after our timeout
    async with http_clients("vk", base_url=fake.base_url, timeout_s=0.1) as slow:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await run(HELLO, key="req-slow", integration=VKSendMessageIntegration(slow))
    assert caught.value.maybe_executed
    assert len(fake.messages) == 1
    returned = await run(HELLO, key="req-slow", attempt=2)
    assert [m.id for m in fake.messages] == [returned["response"]["result"]["message_id"]]


async def test_a_stalled_send_retried_is_one_message(run: Run, fake: FakeVK) -> None:
    fake.stall_next(0.5)  # held before VK read it; the client gives up first
    async with http_clients("vk", base_url=fake.base_url, timeout_s=0.1) as slow:
        with pytest.raises(errors.OutcomeUnknownError):
            await run(HELLO, key="req-stall", integration=VKSendMessageIntegration(slow))
    await asyncio.sleep(0.6)  # the stalled request ends at the fake
    returned = await run(HELLO, key="req-stall", attempt=2)
    assert [m.id for m in fake.messages] == [returned["response"]["result"]["message_id"]]


async def test_the_dedup_ends_with_vks_window(run: Run, fake: FakeVK) -> None:
    fake.dedup_window_s = 0.0  # as if the first send were older than VK remembers
    await run(HELLO, key="req-old")
    await run(HELLO, key="req-old")
    assert len(fake.messages) == 2


def inject(kind: Any) -> Arrange:
    return lambda fake: fake.inject(kind)


@pytest.mark.parametrize(
    ("arrange", "expected", "code", "says", "wait_s"),
    [
        pytest.param(inject("too_many_rps"), errors.RateLimitedError, 429,
                     "error 6: Too many requests per second", 1.0, id="6"),
        pytest.param(inject("flood"), errors.RateLimitedError, 429,
                     "error 9: Flood control", 60.0, id="9"),
        pytest.param(inject("rate_limit_reached"), errors.RateLimitedError, 429,
                     "error 29: Rate limit reached", 3600.0, id="29"),
        pytest.param(inject("captcha"), errors.PermanentError, 400,
                     "captcha, which a bot cannot solve", None, id="14"),
        pytest.param(inject("auth_failed"), errors.AuthError, 401,
                     "error 5: User authorization failed", None, id="5"),
        pytest.param(inject("group_auth"), errors.AuthError, 401,
                     "error 27: Group authorization failed", None, id="27"),
        pytest.param(inject("permission"), errors.AuthError, 403,
                     "give the community token the 'messages' access right", None, id="7"),
        pytest.param(inject("invalid_param"), errors.InvalidConfigError, 400,
                     "error 100: One of the parameters", None, id="100"),
        pytest.param(inject("internal"), errors.OutcomeUnknownError, 502,
                     "error 10: Internal server error", None, id="10"),
        pytest.param(inject("deny_send"), errors.PermanentError, 403,
                     "error 901: Can't send messages for users without permission", None,
                     id="901"),
        pytest.param(inject("privacy"), errors.PermanentError, 403,
                     "error 902: Can't send messages to this user due to their privacy", None,
                     id="902"),
    ],
)  # fmt: skip
async def test_vks_errors_inside_http_200_become_typed_errors(
    request: pytest.FixtureRequest,
    run: Run,
    fake: FakeVK,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    arrange: Arrange,
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
    wait_s: float | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(HELLO)
    error = caught.value
    assert fake.calls[0].status == 200  # VK's errors are all HTTP 200
    assert (type(error), error.code) == (expected, code)
    assert error.message.startswith(f"VK messages.send to peer_id {PEER}: ")  # names the peer
    assert says in error.message
    assert error.parameters["vk_error_code"] == int(request.node.callspec.id)
    outcome = classify(error, secrets=logger.secrets)
    assert outcome.retry_after_s == wait_s
    # request_params echoes every parameter, the token included: none of it is read.
    assert "Привет" not in error.message and "request_params" not in repr(outcome)
    for text in (error.message, repr(outcome), caplog.text):
        assert api_key not in text
    assert "VK request failed" in caplog.text  # logged once, by the seam
    assert fake.messages == []
    assert (await run(HELLO, key="after"))["response"]["ok"] is True  # one-shot fault


async def test_a_peer_that_refuses_the_community_is_permanent_and_named(
    run: Run, fake: FakeVK
) -> None:
    fake.refuse(555, code=902)
    with pytest.raises(errors.PermanentError) as caught:
        await run({"peer_id": 555, "message": "hi"})
    assert "peer_id 555" in caught.value.message
    assert "privacy settings" in caught.value.message
    assert caught.value.parameters == {"vk_error_code": 902}
    assert classify(caught.value).category is OutcomeCategory.PERMANENT
    assert (await run({"peer_id": 556, "message": "hi"}))["response"]["ok"] is True


async def test_a_captcha_answer_is_not_retried_and_leaks_nothing_of_it(
    run: Run, fake: FakeVK
) -> None:
    fake.inject("captcha")
    with pytest.raises(errors.PermanentError) as caught:
        await run(HELLO)
    outcome = classify(caught.value)
    assert (outcome.category, outcome.retryable) == (OutcomeCategory.PERMANENT, False)
    assert "captcha_sid" not in repr(outcome) and "captcha.php" not in repr(outcome)


async def test_a_wrong_token_is_auth_and_never_leaks(
    run: Run,
    fake: FakeVK,
    make_resolver: Any,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's request lines included, no redacting filter
    wrong = "vk1.a.WRONGwrongWRONGwrongWRONGwrongWRONGwrong"
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver({"access_token": f"  {wrong}\n"}))
    assert "invalid access_token" in caught.value.message
    assert fake.calls[0].token == wrong  # VK's own field name, whitespace stripped
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    for text in (caught.value.message, repr(outcome), caplog.text):
        assert wrong not in text


async def test_credentials_without_a_token_name_the_field_and_call_nothing(
    run: Run, fake: FakeVK, make_resolver: Any
) -> None:
    with pytest.raises(errors.AuthError, match="no 'token'"):
        await run(HELLO, credentials=make_resolver({"api_key": "x"}))
    assert fake.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"response": [{"peer_id": PEER, "message_id": 1}]},  # the peer_ids form, not asked for
        {"response": True},
        {"error": "not an object"},
    ],
)
async def test_an_answer_that_is_not_vks_is_transient(
    run: Run, fake: FakeVK, body: dict[str, Any]
) -> None:
    fake.fail_next(200, body=body)
    with pytest.raises(errors.TransientError) as caught:
        await run(HELLO)
    assert caught.value.code == 502
    assert "not a VK answer" in caught.value.message


async def test_the_fake_refuses_json_bodies_as_vk_does(fake: FakeVK, api_key: str) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as client:
        response = await client.post(
            "/method/messages.send",
            json={"peer_id": PEER, "message": "x", "random_id": 1, "v": API_VERSION},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    error = response.json()["error"]
    assert (response.status_code, error["error_code"]) == (200, 8)  # its parameters unread
    assert fake.messages == []


async def test_without_a_request_context_a_one_off_random_id_is_used(
    action: VKSendMessageIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    fake: FakeVK,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    returned = await action.execute(HELLO, resolver, bot_id, logger)
    assert returned["response"]["ok"] is True
    assert "one-off random_id" in caplog.text


def test_metadata_declares_the_dedup_and_vks_rate_limit() -> None:
    meta = VKSendMessageIntegration().metadata
    expected = ("vk_send_message", "messaging", "httpx")
    assert (meta.id, meta.category.value, meta.library_name) == expected
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("vk", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("idempotent", True)
    assert meta.on_unknown_outcome.value == "reexecute"
    assert meta.idempotency_window_s == 3600.0
    assert meta.timeout_s > VKSendMessageIntegration.http_timeout_s
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 20, 1.0)
    ]
