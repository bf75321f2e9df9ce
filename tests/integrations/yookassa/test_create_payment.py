"""yookassa_create_payment against the fake YooKassa over a real loopback socket.

Only what is YooKassa's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.yookassa.client import PaymentProcessingError
from integrations.yookassa.create_payment import YooKassaCreatePaymentIntegration
from integrations.yookassa.testing import FakeYooKassa
from support.integrations import Run, http_clients

Arrange = Callable[[FakeYooKassa], object]
PAY = {"amount": "100", "description": "Order 1", "return_url": "https://shop.example/done"}


async def test_creates_a_redirect_payment_with_basic_auth_and_the_requests_key(
    run: Run, fake: FakeYooKassa, resolver: Any, bot_id: str, credentials: dict[str, str]
) -> None:
    returned = await run({**PAY, "metadata": {"order_id": "1"}}, key="req-42")
    [call] = fake.posts()
    assert call.path == "/v3/payments"
    assert call.headers["Idempotence-Key"] == "req-42"  # YooKassa's spelling
    assert "Idempotency-Key" not in call.headers
    auth = base64.b64decode(call.headers["Authorization"].removeprefix("Basic ")).decode()
    assert auth == f"{credentials['shop_id']}:{credentials['secret_key']}"
    assert call.body == {
        "amount": {"value": "100.00", "currency": "RUB"},  # a string with two decimals
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://shop.example/done"},
        "description": "Order 1",
        "metadata": {"order_id": "1"},
    }
    assert resolver.calls == [(bot_id, "yookassa", "basic")]
    result = returned["response"]["result"]
    assert returned["response"]["ok"] is True
    assert result["id"] in fake.payments
    assert (result["status"], result["paid"]) == ("pending", False)
    assert result["amount"] == {"value": "100.00", "currency": "RUB"}
    assert result["confirmation"]["confirmation_url"].startswith("https://yoomoney.ru/checkout/")
    assert "recipient" not in result  # compact: only what a bot needs
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_the_same_key_returns_the_same_payment_and_a_new_key_a_new_one(
    run: Run, fake: FakeYooKassa
) -> None:
    first = await run(PAY, key="req-1")
    again = await run(PAY, key="req-1")
    other = await run(PAY, key="req-2")
    assert first == again
    assert other["response"]["result"]["id"] != first["response"]["result"]["id"]
    assert len(fake.payments) == 2
    assert len(fake.posts()) == 3


async def test_a_key_longer_than_64_chars_is_hashed_stably(run: Run, fake: FakeYooKassa) -> None:
    long_key = "k" * 100
    await run(PAY, key=long_key)
    await run(PAY, key=long_key)
    sent = {c.idempotence_key for c in fake.posts()}
    assert sent == {hashlib.sha256(long_key.encode()).hexdigest()}
    assert len(fake.payments) == 1


@pytest.mark.parametrize(
    ("extra", "confirmation", "field", "prefix"),
    [
        ({"confirmation_type": "embedded"}, {"type": "embedded"}, "confirmation_token", "ct-"),
        (
            {"confirmation_type": "qr", "return_url": "https://x.example"},
            {"type": "qr", "return_url": "https://x.example"},
            "confirmation_data",
            "https://qr.nspk.ru/",
        ),
    ],
)
async def test_other_confirmation_types(
    run: Run,
    fake: FakeYooKassa,
    extra: dict[str, Any],
    confirmation: dict[str, Any],
    field: str,
    prefix: str,
) -> None:
    returned = await run({"amount": "5.5", "currency": "RUB", **extra})
    [call] = fake.posts()
    assert call.body["confirmation"] == confirmation
    assert call.body["amount"]["value"] == "5.50"
    assert returned["response"]["result"]["confirmation"][field].startswith(prefix)


async def test_autopayment_with_a_saved_method_needs_no_confirmation(
    run: Run, fake: FakeYooKassa
) -> None:
    config = {"amount": "10.00", "payment_method_id": "2d6b1ab5-000f-5000-9000-1a1b6dbd2e8c"}
    returned = await run(config)
    body = fake.posts()[0].body
    assert "confirmation" not in body
    assert body["payment_method_id"] == config["payment_method_id"]
    result = returned["response"]["result"]
    assert (result["status"], result["paid"]) == ("succeeded", True)
    assert result["payment_method"]["saved"] is True


def inject(kind: Any, **options: Any) -> Arrange:
    return lambda fake: fake.inject(kind, **options)


def answer(status: int, body: Any = None) -> Arrange:
    return lambda fake: fake.fail_next(status, body=body)


@pytest.mark.parametrize(
    ("arrange", "wait_s"),
    [
        pytest.param(inject("processing", retry_after_ms=500), 0.5, id="retry-after-ms"),
        # no retry_after in the body: wait what the official SDK waits
        pytest.param(answer(202, {"type": "processing", "id": "x", "description": "processing"}),
                     1.8, id="no-retry-after"),
    ],
)  # fmt: skip
async def test_202_means_ask_again_with_the_same_key_after_the_wait(
    run: Run, fake: FakeYooKassa, arrange: Arrange, wait_s: float
) -> None:
    arrange(fake)
    with pytest.raises(PaymentProcessingError) as caught:
        await run(PAY, key="req-202")
    error = caught.value
    assert isinstance(error, errors.RateLimitedError)
    assert error.code == 202
    assert "still processing; repeat with the same key" in error.message
    outcome = classify(error)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert error.retry_after_s == outcome.retry_after_s == wait_s
    assert fake.payments == {}
    returned = await run(PAY, key="req-202")  # the retry the processor makes
    assert returned["response"]["ok"] is True
    assert len(fake.payments) == 1
    assert {c.idempotence_key for c in fake.posts()} == {"req-202"}


@pytest.mark.parametrize(
    ("arrange", "expected", "code", "says", "parameters"),
    [
        pytest.param(inject("invalid_request", parameter="receipt"), errors.InvalidConfigError, 400,
                     "HTTP 400 invalid_request: Invalid value of receipt; fix the action's config",
                     {"parameter": "receipt"}, id="invalid-request"),
        pytest.param(answer(403), errors.PermanentError, 403,  # the keys are fine
                     "ask YooKassa to enable this operation for the shop", {"code": "forbidden"},
                     id="403"),
        pytest.param(answer(200, ["not", "a", "payment"]), errors.TransientError, 502,
                     "not a YooKassa answer", {}, id="200-not-a-payment"),
    ],
)  # fmt: skip
async def test_yookassas_own_answers_become_typed_errors(
    run: Run,
    fake: FakeYooKassa,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    arrange: Arrange,
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
    parameters: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(PAY)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert error.message.startswith("YooKassa POST /payments: ")
    assert says in error.message
    assert "credentials" not in error.message
    assert parameters.items() <= error.parameters.items()
    assert "YooKassa request failed" in caplog.text  # logged once, by the seam
    assert api_key not in caplog.text
    assert api_key not in repr(classify(error, secrets=logger.secrets))
    assert (await run(PAY, key="after"))["response"]["ok"] is True  # one-shot fault


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("server_error", 500),  # created, but YooKassa answered "outcome unknown"
        ("timeout", 504),  # created, but the answer came too late
    ],
)
async def test_a_lost_answer_is_resolved_by_repeating_the_same_key(
    run: Run, fake: FakeYooKassa, kind: Any, code: int
) -> None:
    fake.inject(kind, delay_s=5)
    async with http_clients("yookassa", base_url=fake.base_url, timeout_s=0.3) as slow:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await run(PAY, key="req-lost", integration=YooKassaCreatePaymentIntegration(slow))
    assert caught.value.code == code
    assert caught.value.maybe_executed  # the processor may re-run it: the key makes that safe
    assert len(fake.payments) == 1
    returned = await run(PAY, key="req-lost")
    assert list(fake.payments) == [returned["response"]["result"]["id"]]  # no second payment


async def test_reusing_a_key_with_other_data_is_permanent(run: Run, fake: FakeYooKassa) -> None:
    await run(PAY, key="req-x")
    with pytest.raises(errors.PermanentError) as caught:
        await run({**PAY, "amount": "200"}, key="req-x")
    assert caught.value.parameters["parameter"] == "Idempotence-Key"
    assert classify(caught.value).category is OutcomeCategory.PERMANENT


async def test_wrong_secret_is_auth_and_never_leaks(
    run: Run,
    fake: FakeYooKassa,
    make_resolver: Any,
    credentials: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    logger: BotLogger,
) -> None:
    caplog.set_level(logging.DEBUG)
    shop_id, wrong = credentials["shop_id"], "live_WRONGsecretWRONGsecretWRONGsecret"
    with pytest.raises(errors.AuthError) as caught:  # a numeric shop_id is accepted
        await run(PAY, credentials=make_resolver({"shop_id": int(shop_id), "secret_key": wrong}))
    assert fake.posts()[0].shop_id == shop_id
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    for text in (caught.value.message, repr(outcome), caplog.text):
        assert wrong not in text
        assert base64.b64encode(f"{shop_id}:{wrong}".encode()).decode() not in text


async def test_malformed_credentials_name_the_fields(
    run: Run, fake: FakeYooKassa, make_resolver: Any
) -> None:
    with pytest.raises(errors.AuthError, match="shop_id"):
        await run(PAY, credentials=make_resolver({"shop_id": "1"}))
    assert fake.calls == []


async def test_zero_amount_is_rejected_before_any_call(run: Run, fake: FakeYooKassa) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run({**PAY, "amount": "0.00"})
    assert "$.amount" in caught.value.message
    assert fake.calls == []


async def test_without_a_request_context_a_one_off_key_is_used(
    action: YooKassaCreatePaymentIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    fake: FakeYooKassa,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    await action.execute(PAY, resolver, bot_id, logger)
    key = fake.posts()[0].idempotence_key
    assert key is not None and len(key) == 36
    assert "one-off Idempotence-Key" in caplog.text


def test_timeouts_outlast_yookassas_own_30_s() -> None:
    meta = YooKassaCreatePaymentIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("yookassa", "basic")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("idempotent", True)
    assert meta.timeout_s > YooKassaCreatePaymentIntegration.http_timeout_s > 30
