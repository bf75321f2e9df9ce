"""ozon_get_stocks against the fake Seller API over a real loopback socket.

Only what is Ozon's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.ozon.get_stocks import OzonGetStocksIntegration
from integrations.ozon.testing import CONTRACT_CLIENT_ID, FakeOzon
from support.integrations import Run

Resolver = Callable[[dict[str, Any] | None], Any]
PRODUCT = 214887921  # the contract fake's one product, offer "PH8865"


async def test_stocks_are_read_with_both_headers(
    run: Run, fake: FakeOzon, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({"offer_ids": ["PH8865"]})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "items": [
            {
                "product_id": PRODUCT,
                "offer_id": "PH8865",
                "stocks": [
                    {"type": "fbo", "sku": PRODUCT + 1_000_000_000, "present": 10, "reserved": 2,
                     "shipment_type": "SHIPMENT_TYPE_GENERAL", "warehouse_ids": []},
                    {"type": "fbs", "sku": PRODUCT + 1_000_000_000, "present": 3, "reserved": 1,
                     "shipment_type": "SHIPMENT_TYPE_GENERAL", "warehouse_ids": ["22142605386000"]},
                ],
            }
        ],
        "total": 1,
        "cursor": None,
        "has_more": False,
    }  # fmt: skip
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/v4/product/info/stocks")
    assert call.body == {"filter": {"visibility": "ALL", "offer_id": ["PH8865"]}, "limit": 100}
    assert (call.client_id, call.api_key) == (CONTRACT_CLIENT_ID, api_key)
    assert resolver.calls == [(bot_id, "ozon", "api_key")]
    assert api_key not in repr(returned)


async def test_one_page_at_a_time_with_the_cursor_ozon_returned(run: Run, fake: FakeOzon) -> None:
    for n in range(1, 3):
        fake.add_product(PRODUCT + n, f"PH{8865 + n}", fbs=(n, 0))
    first = (await run({"limit": 2}))["response"]["result"]
    assert [item["product_id"] for item in first["items"]] == [PRODUCT, PRODUCT + 1]
    assert (first["total"], first["has_more"]) == (3, True)
    assert first["cursor"]
    last = (await run({"limit": 2, "cursor": first["cursor"]}))["response"]["result"]
    assert [item["product_id"] for item in last["items"]] == [PRODUCT + 2]
    assert (last["cursor"], last["has_more"]) == (None, False)
    assert fake.calls[1].body["cursor"] == first["cursor"]


async def test_product_ids_travel_as_strings_with_the_visibility(run: Run, fake: FakeOzon) -> None:
    fake.add_product(5, "hidden", fbo=(1, 0), visible=False)
    result = (await run({"product_ids": [5, PRODUCT], "visibility": "INVISIBLE", "limit": 5}))[
        "response"
    ]["result"]
    assert [item["offer_id"] for item in result["items"]] == ["hidden"]
    assert fake.calls[0].body["filter"] == {
        "visibility": "INVISIBLE",
        "product_id": ["5", str(PRODUCT)],
    }


@pytest.mark.parametrize(
    ("arrange", "expected", "category", "says"),
    [
        (lambda fake: fake.inject("rate_limit"), errors.RateLimitedError,
         OutcomeCategory.RATE_LIMITED, "HTTP 429 8: You have reached request rate limit"),
        (lambda fake: fake.inject("permission_denied"), errors.AuthError, OutcomeCategory.AUTH,
         "give the API key a role with product stocks"),
        (lambda fake: fake.inject("invalid_argument"), errors.InvalidConfigError,
         OutcomeCategory.INVALID_CONFIG, "HTTP 400 3: invalid request payload"),
        (lambda fake: fake.fail_next(404), errors.PermanentError, OutcomeCategory.PERMANENT,
         "HTTP 404 5"),
        (lambda fake: fake.fail_next(500), errors.TransientError, OutcomeCategory.TRANSIENT,
         "HTTP 500 13"),
    ],
    ids=["rate-limit-code-8", "permission-denied", "invalid-argument", "not-found", "internal"],
)  # fmt: skip
async def test_ozon_errors_become_typed_errors(
    run: Run,
    fake: FakeOzon,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    arrange: Callable[[FakeOzon], object],
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run({"limit": 10})
    error = caught.value
    outcome = classify(error, secrets=logger.secrets)
    assert (type(error), outcome.category) == (expected, category)
    assert outcome.maybe_executed is False  # a read: nothing to have happened twice
    assert says in error.message
    if expected is errors.RateLimitedError:
        assert outcome.retry_after_s is None  # Ozon sends no Retry-After: backoff decides
    assert "Ozon request failed" in caplog.text
    for secret in (api_key, CONTRACT_CLIENT_ID):
        assert secret not in str(error)
        assert secret not in caplog.text
    assert (await run({"limit": 10}))["response"]["ok"] is True  # one-shot fault


async def test_a_rejected_key_is_auth_and_reaches_no_log_line(
    run: Run, fake: FakeOzon, logger: BotLogger, make_resolver: Resolver,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    wrong = "0c1b2a39-4857-4a6b-8c9d-e0f1a2b3c4d5"
    with pytest.raises(errors.AuthError, match="Invalid Api-Key") as caught:
        await run(
            {}, credentials=make_resolver({"client_id": CONTRACT_CLIENT_ID, "api_key": wrong})
        )
    assert fake.calls[0].api_key == wrong
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert wrong not in caplog.text


async def test_a_numeric_client_id_and_surrounding_spaces_are_accepted(
    run: Run, fake: FakeOzon, api_key: str, make_resolver: Resolver
) -> None:
    creds = make_resolver({"client_id": int(CONTRACT_CLIENT_ID), "api_key": f" {api_key}\n"})
    assert (await run({}, credentials=creds))["response"]["ok"] is True
    assert (fake.calls[0].client_id, fake.calls[0].api_key) == (CONTRACT_CLIENT_ID, api_key)


@pytest.mark.parametrize(
    ("creds", "match"),
    [
        ({"api_key": "k" * 36}, "no 'client_id'"),
        ({"client_id": "", "api_key": "k" * 36}, "no 'client_id'"),
        ({"client_id": "12ab", "api_key": "k" * 36}, "malformed 'client_id'"),
        ({"client_id": "١٢٣", "api_key": "k" * 36}, "malformed 'client_id'"),  # Arabic digits
        ({"client_id": "1" * 21, "api_key": "k" * 36}, "malformed 'client_id'"),
        ({"client_id": True, "api_key": "k" * 36}, "no 'client_id'"),
        ({"client_id": "123"}, "no 'api_key'"),
        ({"client_id": "123", "api_key": "key\r\nX-Injected: 1"}, "malformed 'api_key'"),
    ],
)
async def test_bad_credentials_are_auth_errors_naming_the_field_before_any_call(
    run: Run, fake: FakeOzon, make_resolver: Resolver, creds: dict[str, Any], match: str
) -> None:
    with pytest.raises(errors.AuthError, match=match) as caught:
        await run({}, credentials=make_resolver(creds))
    assert fake.calls == []
    assert "k" * 36 not in caught.value.message


def test_metadata_is_a_read_within_ozons_per_second_budget() -> None:
    meta = OzonGetStocksIntegration().metadata
    assert (meta.side_effect.value, meta.credentials_provider, meta.category.value) == (
        "none",
        "ozon",
        "ecommerce",
    )
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 50, 1.0)
    ]
