"""paypal_create_order against the fake PayPal over a real loopback socket.

Only what is PayPal's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.credentials.oauth import token_endpoint
from integrations.outcome import OutcomeCategory, classify
from integrations.paypal.client import DEFAULT_BASE_URL, TOKEN_PATH
from integrations.paypal.create_order import PayPalCreateOrderIntegration
from integrations.paypal.testing import CLIENT_ID, CLIENT_SECRET, STATIC_TOKEN, FakePayPal
from support.integrations import Run, http_clients

Arrange = Callable[[FakePayPal], object]
ORDER = {"amount": "10", "currency": "USD", "description": "Order 1", "invoice_id": "INV-1"}


async def test_creates_an_order_with_the_bearer_token_and_the_requests_id(
    run: Run, fake: FakePayPal, resolver: Any, bot_id: str
) -> None:
    returned = await run({**ORDER, "custom_id": "cart-7"}, key="req-42")
    [call] = fake.creates()
    assert call.path == "/v2/checkout/orders"
    assert call.headers["Authorization"] == f"Bearer {STATIC_TOKEN}"
    assert call.request_id == "req-42"
    assert call.headers["Prefer"] == "return=minimal"
    assert call.body == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "amount": {"currency_code": "USD", "value": "10.00"},  # two decimals
                "description": "Order 1",
                "invoice_id": "INV-1",
                "custom_id": "cart-7",
            }
        ],
    }
    assert resolver.calls == [(bot_id, "paypal", "oauth")]
    result = returned["response"]["result"]
    assert result["id"] in fake.orders
    assert result["status"] == "CREATED"
    assert result["approve_url"].endswith(f"checkoutnow?token={result['id']}")
    assert set(result) == {"id", "status", "approve_url"}
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_an_experience_goes_in_the_paypal_payment_source(run: Run, fake: FakePayPal) -> None:
    config = {
        "amount": "9.5",
        "currency": "EUR",
        "intent": "AUTHORIZE",
        "return_url": "https://shop.example/ok?o=1",
        "cancel_url": "https://shop.example/cancel",
        "brand_name": "Shop",
        "user_action": "PAY_NOW",
        "shipping_preference": "NO_SHIPPING",
    }
    returned = await run(config)
    body = fake.creates()[0].body
    assert body["intent"] == "AUTHORIZE"
    assert body["purchase_units"][0]["amount"] == {"currency_code": "EUR", "value": "9.50"}
    assert "application_context" not in body  # deprecated by PayPal
    assert body["payment_source"] == {
        "paypal": {
            "experience_context": {
                "return_url": "https://shop.example/ok?o=1",
                "cancel_url": "https://shop.example/cancel",
                "brand_name": "Shop",
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            }
        }
    }
    result = returned["response"]["result"]
    assert result["status"] == "PAYER_ACTION_REQUIRED"
    assert result["approve_url"].endswith(result["id"])  # the payer-action link


async def test_zero_decimal_currencies_are_sent_in_whole_units(run: Run, fake: FakePayPal) -> None:
    await run({"amount": "1500", "currency": "JPY"})
    assert fake.creates()[0].body["purchase_units"][0]["amount"]["value"] == "1500"
    with pytest.raises(errors.InvalidConfigError, match=r"\$\.amount"):
        await run({"amount": "1500.00", "currency": "HUF"})
    assert len(fake.creates()) == 1


async def test_the_same_request_id_returns_the_first_order_and_creates_nothing(
    run: Run, fake: FakePayPal
) -> None:
    first = await run(ORDER, key="req-1")
    again = await run(ORDER, key="req-1")  # PayPal answers 200 with the same order
    other = await run({**ORDER, "invoice_id": "INV-2"}, key="req-2")
    assert first == again
    assert other["response"]["result"]["id"] != first["response"]["result"]["id"]
    assert len(fake.orders) == 2
    assert [c.status for c in fake.creates()] == [201, 200, 201]


async def test_a_request_id_over_108_chars_is_hashed_stably(run: Run, fake: FakePayPal) -> None:
    long_key = "k" * 200
    await run(ORDER, key=long_key)
    await run(ORDER, key=long_key)
    assert {c.request_id for c in fake.creates()} == {hashlib.sha256(long_key.encode()).hexdigest()}
    assert len(fake.orders) == 1


@pytest.mark.parametrize(("kind", "code"), [("server_error", 500), ("timeout", 504)])
async def test_a_lost_answer_is_resolved_by_repeating_the_same_request_id(
    run: Run, fake: FakePayPal, kind: Any, code: int
) -> None:
    fake.inject(kind, delay_s=5)
    async with http_clients("paypal", base_url=fake.base_url, timeout_s=0.3) as slow:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await run(ORDER, key="req-lost", integration=PayPalCreateOrderIntegration(slow))
    assert caught.value.code == code
    assert caught.value.maybe_executed  # re-running is safe: the request id replays the order
    assert len(fake.orders) == 1
    returned = await run(ORDER, key="req-lost")
    assert list(fake.orders) == [returned["response"]["result"]["id"]]  # no second order


@dataclass(frozen=True)
class Answer:
    """An error answer PayPal gives (``arrange``) and the typed error it must become."""

    arrange: Arrange
    error: type[errors.IntegrationError]
    code: int
    says: str  # a part of the message
    parameters: dict[str, Any] = field(default_factory=dict)


def injected(kind: Any, **options: Any) -> Arrange:
    return lambda fake: fake.inject(kind, **options)


def answered(status: int, body: Any = None) -> Arrange:
    return lambda fake: fake.fail_next(status, body=body)


ANSWERS = {
    "400-invalid-request": Answer(
        injected("invalid_request", issue="INVALID_PARAMETER_SYNTAX",
                 field="/purchase_units/0/amount/value"),
        errors.InvalidConfigError, 400,
        "HTTP 400 INVALID_REQUEST: Request is not well-formed, syntactically incorrect, or "
        "violates schema.; INVALID_PARAMETER_SYNTAX at /purchase_units/0/amount/value "
        "(config 'amount')",
        {"name": "INVALID_REQUEST", "config_field": "amount"}),
    "422-field": Answer(
        injected("unprocessable", issue="CURRENCY_NOT_SUPPORTED",
                 field="/purchase_units/@reference_id=='default'/amount/currency_code"),
        errors.InvalidConfigError, 422, "(config 'currency')",
        {"issue": "CURRENCY_NOT_SUPPORTED", "config_field": "currency"}),
    "422-account": Answer(
        injected("unprocessable", issue="PAYEE_ACCOUNT_RESTRICTED"), errors.PermanentError,
        422, "the PayPal account or REST app may not do this",
        {"issue": "PAYEE_ACCOUNT_RESTRICTED"}),
    "403-not-authorized": Answer(
        injected("not_authorized"), errors.PermanentError, 403,
        "HTTP 403 NOT_AUTHORIZED: Authorization failed due to insufficient permissions.; "
        "PERMISSION_DENIED", {"name": "NOT_AUTHORIZED"}),
    "400-other": Answer(
        answered(400, {"name": "MALFORMED_REQUEST_JSON", "message": "Bad", "debug_id": "d1"}),
        errors.PermanentError, 400, "MALFORMED_REQUEST_JSON"),
    "201-without-an-id": Answer(
        answered(201, {"status": "CREATED"}), errors.TransientError, 502, "not a PayPal answer"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ANSWERS))
async def test_paypals_own_answers_become_typed_errors(
    run: Run, fake: FakePayPal, api_key: str, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    case = ANSWERS[name]
    caplog.set_level(logging.DEBUG)
    case.arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(ORDER)
    failure = caught.value
    assert (type(failure), failure.code) == (case.error, case.code)
    assert failure.message.startswith("PayPal POST /v2/checkout/orders: ")
    assert case.says in failure.message, failure.message
    assert case.parameters.items() <= failure.parameters.items()
    if case.code != 502:
        assert failure.parameters["debug_id"]  # PayPal's support asks for it
    assert "PayPal request failed" in caplog.text  # logged once, by the seam
    assert api_key not in caplog.text + repr(classify(failure))
    assert (await run(ORDER, key="after"))["response"]["ok"] is True  # one-shot fault


@pytest.mark.parametrize(("wait_s", "expected"), [(3, 3.0), (None, None)])
async def test_rate_limit_reached_waits_what_paypal_says_if_anything(
    run: Run, fake: FakePayPal, wait_s: float | None, expected: float | None
) -> None:
    fake.inject("rate_limited", retry_after_s=wait_s)
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(ORDER)
    assert "RATE_LIMIT_REACHED" in caught.value.message
    outcome = classify(caught.value)
    assert outcome.category is OutcomeCategory.RATE_LIMITED
    assert caught.value.retry_after_s == outcome.retry_after_s == expected
    assert fake.orders == {}


async def test_a_reused_invoice_id_names_the_field(run: Run, fake: FakePayPal) -> None:
    await run(ORDER, key="req-a")
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run(ORDER, key="req-b")  # a new request with the same invoice number
    assert caught.value.parameters["issue"] == "DUPLICATE_INVOICE_ID"
    assert "(config 'invoice_id')" in caught.value.message
    assert len(fake.orders) == 1


@pytest.mark.parametrize("state", ["expired", "unknown"])
async def test_an_expired_or_unknown_token_is_auth_and_never_leaks(
    run: Run,
    fake: FakePayPal,
    make_resolver: Any,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    state: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "A21AAexpiredOrUnknownTokenOfThisBot000000000000000000"
    if state == "expired":
        fake.grant(CLIENT_ID, CLIENT_SECRET, access_token=token, expires_in=-1)
    with pytest.raises(errors.AuthError) as caught:
        await run(ORDER, credentials=make_resolver({"access_token": token}))
    name = "AUTHENTICATION_FAILURE" if state == "expired" else "invalid_token"
    assert f"HTTP 401 {name}" in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH  # the processor re-fetches: a new mint
    for text in (caught.value.message, repr(outcome), caplog.text):
        assert token not in text
    assert fake.orders == {}


async def test_a_bot_without_a_minted_token_yet_is_auth_naming_it(
    run: Run, fake: FakePayPal, make_resolver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stored = make_resolver({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    with pytest.raises(errors.AuthError) as caught:
        await run(ORDER, credentials=stored)
    assert "no 'access_token'" in caught.value.message
    assert "mints 'access_token'" in caught.value.message
    assert CLIENT_SECRET not in caught.value.message + caplog.text
    assert fake.calls == []


@pytest.mark.parametrize("amount", ["0", "0.0", "0.00"])
async def test_a_zero_amount_never_reaches_paypal(run: Run, fake: FakePayPal, amount: str) -> None:
    # The schema's pattern lets zero through (it stays linear); the body builder refuses it.
    with pytest.raises(errors.InvalidConfigError, match=r"\$\.amount: .* greater than zero"):
        await run({"amount": amount, "currency": "GBP"})
    assert fake.calls == []


def test_metadata_and_the_declared_token_endpoint() -> None:
    meta = PayPalCreateOrderIntegration().metadata
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("paypal", "oauth")
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("idempotent", True)
    assert meta.idempotency_window_s == 6 * 3600  # PayPal keeps request ids 6 h
    assert meta.on_unknown_outcome.value == "reexecute"
    assert meta.timeout_s > PayPalCreateOrderIntegration.http_timeout_s
    endpoint = token_endpoint("paypal")
    assert endpoint is not None
    assert endpoint.url == DEFAULT_BASE_URL + TOKEN_PATH
    assert (endpoint.grant, endpoint.client_auth, endpoint.body) == (
        "client_credentials",
        "basic",
        "form",
    )
    assert endpoint.reauthorise == ("invalid_client",)
