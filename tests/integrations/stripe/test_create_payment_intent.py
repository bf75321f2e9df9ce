"""stripe_create_payment_intent: stripe-python's async API against the fake Stripe, over a real
loopback socket.

Only what is Stripe's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.stripe.create_payment_intent import (
    StripeCreatePaymentIntentIntegration,
)
from integrations.stripe.testing import FakeStripe
from support.integrations import Run, http_clients

PI = {"amount": 1000, "currency": "USD", "description": "Order 42"}


async def test_creates_an_intent_with_the_requests_key_and_form_params(
    run: Run, fake: FakeStripe, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({**PI, "metadata": {"order": "42"}}, key="req-42")
    [call] = fake.posts()
    assert call.path == "/v1/payment_intents"
    assert call.api_key == api_key
    assert call.idempotency_key == "req-42"
    assert call.headers["Stripe-Version"]  # pinned by the SDK
    assert call.params == {
        "amount": "1000",
        "currency": "usd",  # lowercased
        "description": "Order 42",
        "metadata": {"order": "42"},
        "automatic_payment_methods": {"enabled": "true"},
    }
    assert resolver.calls == [(bot_id, "stripe", "api_key")]
    result = returned["response"]["result"]
    assert result["id"] in fake.intents
    assert (result["status"], result["amount"], result["currency"]) == (
        "requires_payment_method",
        1000,
        "usd",
    )
    assert result["metadata"] == {"order": "42"}
    assert result["idempotent_replayed"] is False
    assert "client_secret" not in result  # only on request
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_the_same_key_replays_and_no_second_intent_is_made(
    run: Run, fake: FakeStripe
) -> None:
    first = await run(PI, key="req-1")
    again = await run(PI, key="req-1")
    assert again["response"]["result"]["id"] == first["response"]["result"]["id"]
    assert again["response"]["result"]["idempotent_replayed"] is True
    assert len(fake.intents) == 1
    await run(PI, key="req-2")
    assert len(fake.intents) == 2


async def test_confirm_with_a_card_succeeds_without_redirects(run: Run, fake: FakeStripe) -> None:
    config = {
        **PI,
        "customer": "cus_Test123",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "return_client_secret": True,
    }
    returned = await run(config)
    params = fake.posts()[0].params
    assert params["confirm"] == "true"
    assert params["automatic_payment_methods"] == {"enabled": "true", "allow_redirects": "never"}
    result = returned["response"]["result"]
    assert (result["status"], result["amount_received"]) == ("succeeded", 1000)
    assert result["latest_charge"].startswith("ch_")
    assert result["client_secret"].startswith(result["id"] + "_secret_")


async def test_3ds_needs_action_and_manual_capture_holds(run: Run) -> None:
    base = {**PI, "confirm": True, "return_url": "https://shop.example/back"}
    three_ds = await run({**base, "payment_method": "pm_card_authenticationRequired"}, key="a")
    assert three_ds["response"]["result"]["status"] == "requires_action"
    assert three_ds["response"]["result"]["next_action"] == "use_stripe_sdk"
    held = await run(
        {**base, "payment_method": "pm_card_visa", "capture_method": "manual"}, key="b"
    )
    assert held["response"]["result"]["status"] == "requires_capture"


async def test_explicit_method_types_replace_automatic_ones(run: Run, fake: FakeStripe) -> None:
    await run({**PI, "allowed_payment_method_types": ["card", "link"]})
    params = fake.posts()[0].params
    assert params["allowed_payment_method_types"] == ["card", "link"]
    assert "automatic_payment_methods" not in params


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
async def test_a_declined_card_is_permanent_with_the_decline_code(
    run: Run, fake: FakeStripe, method: str, decline_code: str
) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        await run({**PI, "payment_method": method, "confirm": True}, key="req-d")
    error = caught.value
    assert error.code == 402
    assert error.parameters["code"] == "card_declined"
    assert error.parameters["decline_code"] == decline_code
    assert error.parameters["payment_intent"] in fake.intents
    assert decline_code in error.message
    assert classify(error).category is OutcomeCategory.PERMANENT
    with pytest.raises(errors.PermanentError):  # Stripe replays the decline for the same key
        await run({**PI, "payment_method": method, "confirm": True}, key="req-d")
    assert fake.posts()[-1].replayed
    assert len(fake.intents) == 1


@pytest.mark.parametrize(
    ("kind", "options", "expected", "code", "category"),
    [
        # Stripe-Should-Retry never turns a rate limit into something else
        ("rate_limit", {"should_retry": True}, errors.RateLimitedError, 429, "rate_limited"),
        (
            "invalid_request",
            {"param": "receipt_email"},
            errors.InvalidConfigError,
            400,
            "invalid_config",
        ),
        ("idempotency_conflict", {}, errors.TransientError, 409, "transient"),  # table: permanent
        ("server_error", {"should_retry": False}, errors.PermanentError, 500, "permanent"),
        ("server_error", {"status": 424}, errors.TransientError, 424, "transient"),
    ],
)
async def test_injected_errors_become_typed_errors(
    run: Run,
    fake: FakeStripe,
    logger: BotLogger,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    options: dict[str, Any],
    expected: type[errors.IntegrationError],
    code: int,
    category: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # stripe-python's own logger included
    fake.inject(kind, **options)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await run(PI)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    outcome = classify(error, secrets=logger.secrets)
    assert outcome.category.value == category
    if kind == "invalid_request":
        assert error.parameters["param"] == "receipt_email"
    assert error.parameters["request_id"].startswith("req_")
    assert len(fake.posts()) == 1  # max_network_retries=0: the processor owns retries
    assert "Stripe request failed" in caplog.text
    for text in (caplog.text, error.message, repr(outcome)):
        assert api_key not in text


async def test_a_500_stripe_saved_is_replayed_so_it_is_permanent(
    run: Run, fake: FakeStripe
) -> None:
    fake.inject("server_error", should_retry=False)
    with pytest.raises(errors.PermanentError):
        await run(PI, key="req-500")
    with pytest.raises(errors.PermanentError) as again:
        await run(PI, key="req-500")
    assert "Stripe-Should-Retry: false" in again.value.message
    assert fake.posts()[-1].replayed


async def test_a_timeout_is_transient_and_the_retry_gets_the_same_intent(
    fake: FakeStripe, run: Run
) -> None:
    fake.inject("timeout", delay_s=0.6)
    async with http_clients("stripe", base_url=fake.url, timeout_s=0.2) as slow:
        with pytest.raises(errors.TransientError) as caught:
            await run(PI, key="req-t", integration=StripeCreatePaymentIntentIntegration(slow))
    assert caught.value.code == 504
    assert caught.value.maybe_executed
    with pytest.raises(errors.TransientError) as busy:  # Stripe is still working on it
        await run(PI, key="req-t")
    assert busy.value.code == 409
    await asyncio.sleep(0.6)
    returned = await run(PI, key="req-t")
    assert returned["response"]["result"]["idempotent_replayed"] is True
    assert list(fake.intents) == [returned["response"]["result"]["id"]]


async def test_the_same_key_in_flight_gets_409(run: Run, fake: FakeStripe) -> None:
    fake.inject("timeout", delay_s=0.5)
    first = asyncio.create_task(run(PI, key="req-c"))
    await asyncio.sleep(0.1)
    with pytest.raises(errors.TransientError) as caught:
        await run(PI, key="req-c")
    assert caught.value.code == 409
    assert (await first)["response"]["ok"] is True


async def test_other_params_under_a_used_key_are_permanent(run: Run) -> None:
    await run(PI, key="req-x")
    with pytest.raises(errors.PermanentError) as caught:
        await run({**PI, "amount": 2000}, key="req-x")
    assert caught.value.parameters["type"] == "idempotency_error"


@pytest.mark.parametrize(
    ("config", "param", "code"),
    [
        ({**PI, "customer": "cus_Missing1"}, "customer", "resource_missing"),
        ({**PI, "amount": 10}, "amount", "amount_too_small"),
    ],
)
async def test_stripe_validation_is_invalid_config_with_the_param(
    run: Run, config: dict[str, Any], param: str, code: str
) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run(config)
    assert (caught.value.parameters["param"], caught.value.parameters["code"]) == (param, code)
    assert "fix the action's config" in caught.value.message


async def test_wrong_key_is_auth_and_never_leaks(
    run: Run, make_resolver: Any, caplog: pytest.LogCaptureFixture, logger: BotLogger
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk_live_51WrongWrongWrongWrongWrongWrong0000"
    with pytest.raises(errors.AuthError) as caught:
        await run(PI, credentials=make_resolver({"api_key": wrong}))
    outcome = classify(caught.value, secrets=logger.secrets)
    for text in (caught.value.message, repr(outcome), caplog.text):
        assert wrong not in text


@pytest.mark.parametrize(
    ("creds", "says"),
    [
        ({"api_key": "pk_test_publishable"}, "a secret (sk_...) or restricted (rk_...) key"),
        ({"secret_key": "sk_test_misfiled"}, "no 'api_key'"),
        ({"api_key": 42}, "no 'api_key'"),
    ],
)
async def test_a_key_that_is_not_a_secret_key_is_refused_before_any_call(
    run: Run, fake: FakeStripe, make_resolver: Any, creds: dict[str, Any], says: str
) -> None:
    with pytest.raises(errors.AuthError) as caught:
        await run(PI, credentials=make_resolver(creds))
    assert says in caught.value.message
    assert fake.requests == []


async def test_one_stripe_client_serves_every_bot(
    action: StripeCreatePaymentIntentIntegration,
    run: Run,
    make_resolver: Any,
    fake: FakeStripe,
    api_key: str,
) -> None:
    other = "sk_test_second_account_key_0000000000"
    fake.api_keys.add(other)
    await run(PI, key="a")
    client = action.stripe_client
    await run(PI, key="b", credentials=make_resolver({"api_key": other}))
    assert action.stripe_client is client
    assert [c.api_key for c in fake.posts()] == [api_key, other]


def test_metadata_values() -> None:
    meta = StripeCreatePaymentIntentIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("stripe", "api_key")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("idempotent", True)
    assert meta.timeout_s > StripeCreatePaymentIntentIntegration.http_timeout_s
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 25, 1.0)
    ]
