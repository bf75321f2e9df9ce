"""yookassa_create_payment against the fake YooKassa over a real loopback socket."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

import pytest

from integrations.bot_logger import BotLogger
from integrations.errors import (
    AuthError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from integrations.yookassa.client import PaymentProcessingError
from integrations.yookassa.create_payment import METADATA, YooKassaCreatePaymentIntegration
from integrations.yookassa.testing import FakeYooKassa
from processors.settings import EndpointSettings

SECRET = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0"
BOT_ID = "6f1c2a9e-0000-4000-8000-0000000000a1"
PAY = {"amount": "100", "description": "Order 1", "return_url": "https://shop.example/done"}


async def test_creates_a_redirect_payment_with_basic_auth_and_the_requests_key(
    run: Any, fake: FakeYooKassa, resolver: Any
) -> None:
    returned = await run({**PAY, "metadata": {"order_id": "1"}}, key="req-42")
    [call] = fake.posts()
    assert call.path == "/v3/payments"
    assert call.headers["Idempotence-Key"] == "req-42"  # YooKassa's spelling
    assert "Idempotency-Key" not in call.headers
    auth = base64.b64decode(call.headers["Authorization"].removeprefix("Basic ")).decode()
    assert auth == f"123456:{SECRET}"
    assert call.body == {
        "amount": {"value": "100.00", "currency": "RUB"},  # a string with two decimals
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://shop.example/done"},
        "description": "Order 1",
        "metadata": {"order_id": "1"},
    }
    assert resolver.calls == [(BOT_ID, "yookassa", "basic")]
    result = returned["response"]["result"]
    assert returned["response"]["ok"] is True
    assert result["id"] in fake.payments
    assert (result["status"], result["paid"]) == ("pending", False)
    assert result["amount"] == {"value": "100.00", "currency": "RUB"}
    assert result["confirmation"]["confirmation_url"].startswith("https://yoomoney.ru/checkout/")
    assert "recipient" not in result  # compact: only what a bot needs
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_the_same_key_returns_the_same_payment_and_a_new_key_a_new_one(
    run: Any, fake: FakeYooKassa
) -> None:
    first = await run(PAY, key="req-1")
    again = await run(PAY, key="req-1")
    other = await run(PAY, key="req-2")
    assert first == again
    assert other["response"]["result"]["id"] != first["response"]["result"]["id"]
    assert len(fake.payments) == 2
    assert len(fake.posts()) == 3


async def test_a_key_longer_than_64_chars_is_hashed_stably(run: Any, fake: FakeYooKassa) -> None:
    long_key = "k" * 100
    await run(PAY, key=long_key)
    await run(PAY, key=long_key)
    sent = {c.idempotence_key for c in fake.posts()}
    assert sent == {hashlib.sha256(long_key.encode()).hexdigest()}
    assert len(fake.payments) == 1


@pytest.mark.parametrize(
    ("extra", "confirmation"),
    [
        ({"confirmation_type": "embedded"}, {"type": "embedded"}),
        ({"confirmation_type": "qr", "return_url": "https://x.example"}, None),
    ],
)
async def test_other_confirmation_types(
    run: Any, fake: FakeYooKassa, extra: dict[str, Any], confirmation: dict[str, Any] | None
) -> None:
    config = {"amount": "5.5", "currency": "RUB", **extra}
    returned = await run(config)
    sent = fake.posts()[0].body["confirmation"]
    assert sent == (confirmation or {"type": "qr", "return_url": "https://x.example"})
    assert fake.posts()[0].body["amount"]["value"] == "5.50"
    result = returned["response"]["result"]
    if extra["confirmation_type"] == "embedded":
        assert result["confirmation"]["confirmation_token"].startswith("ct-")
    else:
        assert result["confirmation"]["confirmation_data"].startswith("https://qr.nspk.ru/")


async def test_autopayment_with_a_saved_method_needs_no_confirmation(
    run: Any, fake: FakeYooKassa
) -> None:
    config = {"amount": "10.00", "payment_method_id": "2d6b1ab5-000f-5000-9000-1a1b6dbd2e8c"}
    returned = await run(config)
    body = fake.posts()[0].body
    assert "confirmation" not in body
    assert body["payment_method_id"] == config["payment_method_id"]
    result = returned["response"]["result"]
    assert (result["status"], result["paid"]) == ("succeeded", True)
    assert result["payment_method"]["saved"] is True


async def test_202_means_ask_again_with_the_same_key_after_retry_after_ms(
    run: Any, fake: FakeYooKassa
) -> None:
    fake.inject("processing", retry_after_ms=500)
    with pytest.raises(PaymentProcessingError) as caught:
        await run(PAY, key="req-202")
    error = caught.value
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 0.5  # milliseconds in the body
    outcome = classify(error)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == 0.5
    assert fake.payments == {}
    returned = await run(PAY, key="req-202")  # the retry the processor makes
    assert returned["response"]["ok"] is True
    assert len(fake.payments) == 1
    assert {c.idempotence_key for c in fake.posts()} == {"req-202"}


async def test_202_without_retry_after_waits_the_sdk_default(run: Any, fake: FakeYooKassa) -> None:
    fake.fail_next(202, body={"type": "processing", "id": "x", "description": "processing"})
    with pytest.raises(PaymentProcessingError) as caught:
        await run(PAY)
    assert caught.value.retry_after_s == 1.8


async def test_invalid_request_is_invalid_config_naming_the_parameter(
    run: Any, fake: FakeYooKassa, caplog: pytest.LogCaptureFixture, logger: BotLogger
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject("invalid_request", parameter="receipt")
    with pytest.raises(InvalidConfigError) as caught:
        await run(PAY)
    error = caught.value
    assert (error.code, error.parameters["parameter"]) == (400, "receipt")
    assert error.message.startswith("YooKassa POST /payments: HTTP 400 invalid_request: ")
    assert "receipt" in error.message
    assert "YooKassa request failed" in caplog.text  # logged once, by the seam
    assert SECRET not in caplog.text
    assert SECRET not in repr(classify(error, secrets=logger.secrets))
    assert (await run(PAY, key="after"))["response"]["ok"] is True  # one-shot fault


async def test_403_is_permanent_the_keys_are_fine(run: Any, fake: FakeYooKassa) -> None:
    fake.fail_next(403)
    with pytest.raises(PermanentError) as caught:
        await run(PAY)
    assert caught.value.code == 403
    assert "enable this operation" in caught.value.message
    assert "credentials" not in caught.value.message


async def test_a_200_without_a_payment_is_not_yookassas_answer(
    run: Any, fake: FakeYooKassa
) -> None:
    fake.fail_next(200, body=["not", "a", "payment"])
    with pytest.raises(TransientError) as caught:
        await run(PAY)
    assert caught.value.code == 502


async def test_500_after_creating_is_resolved_by_repeating_the_same_key(
    run: Any, fake: FakeYooKassa
) -> None:
    fake.inject("server_error")  # YooKassa created the payment but answered "unknown"
    with pytest.raises(OutcomeUnknownError) as caught:
        await run(PAY, key="req-500")
    assert caught.value.maybe_executed
    assert len(fake.payments) == 1
    returned = await run(PAY, key="req-500")
    assert returned["response"]["result"]["id"] in fake.payments
    assert len(fake.payments) == 1  # no second payment


async def test_a_timeout_is_transient_and_the_retry_finds_the_payment(
    fake: FakeYooKassa, run: Any
) -> None:
    fake.inject("timeout", delay_s=5)
    slow = HttpClients({"yookassa": EndpointSettings(base_url=fake.base_url, timeout_s=0.3)})
    try:
        with pytest.raises(TransientError) as caught:
            await run(PAY, key="req-t", integration=YooKassaCreatePaymentIntegration(slow))
    finally:
        await slow.aclose()
    assert caught.value.code == 504
    assert caught.value.maybe_executed  # the processor may re-run it: the key makes that safe
    returned = await run(PAY, key="req-t")
    assert list(fake.payments) == [returned["response"]["result"]["id"]]


async def test_reusing_a_key_with_other_data_is_permanent(run: Any, fake: FakeYooKassa) -> None:
    await run(PAY, key="req-x")
    with pytest.raises(PermanentError) as caught:
        await run({**PAY, "amount": "200"}, key="req-x")
    assert caught.value.parameters["parameter"] == "Idempotence-Key"
    assert classify(caught.value).category is OutcomeCategory.PERMANENT


async def test_wrong_secret_is_auth_and_never_leaks(
    run: Any, make_resolver: Any, caplog: pytest.LogCaptureFixture, logger: BotLogger
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "live_WRONGsecretWRONGsecretWRONGsecret"
    with pytest.raises(AuthError) as caught:
        await run(PAY, credentials=make_resolver({"shop_id": 123456, "secret_key": wrong}))
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    for text in (caught.value.message, repr(outcome), caplog.text):
        assert wrong not in text
        assert base64.b64encode(f"123456:{wrong}".encode()).decode() not in text


async def test_malformed_credentials_name_the_fields(
    run: Any, fake: FakeYooKassa, make_resolver: Any
) -> None:
    with pytest.raises(AuthError, match="shop_id"):
        await run(PAY, credentials=make_resolver({"shop_id": "1"}))
    assert fake.calls == []


async def test_zero_amount_is_rejected_before_any_call(run: Any, fake: FakeYooKassa) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        await run({**PAY, "amount": "0.00"})
    assert "$.amount" in caught.value.message
    assert fake.calls == []


async def test_without_a_request_context_a_one_off_key_is_used(
    action: YooKassaCreatePaymentIntegration,
    resolver: Any,
    logger: BotLogger,
    fake: FakeYooKassa,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tests.yookassa")
    await action.execute(PAY, resolver, BOT_ID, logger)
    key = fake.posts()[0].idempotence_key
    assert key is not None and len(key) == 36
    assert "one-off Idempotence-Key" in caplog.text


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"return_url": "https://x.example"}, "amount"),
        ({**PAY, "amount": "10.001"}, "$.amount"),
        ({**PAY, "amount": 100}, "$.amount"),
        ({**PAY, "amount": "-5"}, "$.amount"),
        ({**PAY, "currency": "rub"}, "$.currency"),
        ({**PAY, "description": "x" * 129}, "$.description"),
        ({**PAY, "metadata": {f"k{i}": "v" for i in range(17)}}, "$.metadata"),
        ({**PAY, "metadata": {"k": 1}}, "$.metadata.k"),
        ({**PAY, "colour": "red"}, "colour"),
        ({"amount": "1.00"}, "return_url"),
        ({**PAY, "confirmation_type": "sms"}, "$.confirmation_type"),
        ({"amount": "1", "payment_method_id": "pm", "confirmation_type": "qr"}, "$"),
    ],
)
def test_config_schema_rejects(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert problem in caught.value.message


def test_timeouts_outlast_yookassas_own_30_s() -> None:
    meta = YooKassaCreatePaymentIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("yookassa", "basic")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("idempotent", True)
    assert meta.timeout_s > YooKassaCreatePaymentIntegration.http_timeout_s > 30
