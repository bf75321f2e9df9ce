"""wildberries_get_stocks against the fake Marketplace API over a real loopback socket.

Only what is Wildberries' own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.wildberries.get_stocks import WildberriesGetStocksIntegration
from integrations.wildberries.testing import FakeWildberries
from support.integrations import Run, http_clients

Resolver = Callable[[dict[str, Any] | None], Any]
CHRT_ID = 12345678  # the size the contract fake has 3 of, on ``warehouse``


async def test_stocks_are_read_with_the_raw_token(
    run: Run, fake: FakeWildberries, resolver: Any, bot_id: str, api_key: str, warehouse: int
) -> None:
    fake.set_stock(warehouse, chrt_id=12345679, amount=0)
    returned = await run({"warehouse_id": warehouse, "chrt_ids": [CHRT_ID, 12345679, 999]})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "warehouse_id": warehouse,
        "stocks": [{"chrt_id": CHRT_ID, "amount": 3}, {"chrt_id": 12345679, "amount": 0}],
        "total_amount": 3,
        "missing_chrt_ids": [999],
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", f"/api/v3/stocks/{warehouse}")
    assert call.body == {"chrtIds": [CHRT_ID, 12345679, 999]}
    assert call.token == api_key  # raw, no "Bearer"
    assert resolver.calls == [(bot_id, "wildberries", "api_key")]
    assert api_key not in repr(returned)


async def test_an_unknown_warehouse_is_permanent(run: Run, fake: FakeWildberries) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        await run({"warehouse_id": 1, "chrt_ids": [1]})
    assert caught.value.code == 404
    assert "HTTP 404 NotFound: Склад не найден" in caught.value.message
    assert fake.calls[0].status == 404


@pytest.mark.parametrize(
    ("kind", "expected", "category", "code", "says"),
    [
        ("forbidden", errors.AuthError, OutcomeCategory.AUTH, 403, "'Marketplace' category"),
        ("payment_required", errors.PermanentError, OutcomeCategory.PERMANENT, 402,
         "insufficient funds"),
        ("bad_request", errors.InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400,
         "HTTP 400 IncorrectRequestBody"),
    ],
)  # fmt: skip
async def test_wb_errors_become_typed_errors(
    run: Run,
    fake: FakeWildberries,
    api_key: str,
    warehouse: int,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    code: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(kind)  # type: ignore[arg-type]
    config = {"warehouse_id": warehouse, "chrt_ids": [CHRT_ID]}
    with pytest.raises(errors.IntegrationError) as caught:
        await run(config)
    error = caught.value
    assert (type(error), error.code, classify(error).category) == (expected, code, category)
    assert says in error.message
    assert "Wildberries request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text
    returned = await run(config)
    assert returned["response"]["ok"] is True  # one-shot fault: the next call works


async def test_the_token_bucket_answers_429_with_x_ratelimit_retry(
    run: Run, warehouse: int
) -> None:
    async with (
        FakeWildberries(burst=2, refill_per_s=0.5) as fake,
        http_clients("wildberries", base_url=fake.url) as clients,
    ):
        fake.set_stock(warehouse, chrt_id=1, amount=3)
        action = WildberriesGetStocksIntegration(clients)
        config = {"warehouse_id": warehouse, "chrt_ids": [1]}
        for _ in range(2):
            await run(config, integration=action)
        with pytest.raises(errors.RateLimitedError) as caught:
            await run(config, integration=action)
    assert caught.value.retry_after_s == 2  # one token at 0.5/s
    assert fake.calls[-1].status == 429


async def test_a_rejected_credential_is_auth_with_the_providers_reason(
    run: Run,
    fake: FakeWildberries,
    warehouse: int,
    logger: BotLogger,
    make_resolver: Resolver,
) -> None:
    wrong = "wb-wrong-token-that-must-never-be-logged-42"
    with pytest.raises(errors.AuthError) as caught:
        await run(
            {"warehouse_id": warehouse, "chrt_ids": [1]},
            credentials=make_resolver({"token": wrong}),
        )
    assert fake.calls[0].token == wrong
    assert "token problem" in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)


async def test_the_token_may_be_stored_as_api_key_but_not_under_another_name(
    run: Run, fake: FakeWildberries, api_key: str, warehouse: int, make_resolver: Resolver
) -> None:
    config = {"warehouse_id": warehouse, "chrt_ids": [CHRT_ID]}
    returned = await run(config, credentials=make_resolver({"api_key": api_key}))
    assert returned["response"]["ok"] is True
    with pytest.raises(errors.AuthError, match="no 'token'"):
        await run(config, credentials=make_resolver({"user": "x"}))
    assert len(fake.calls) == 1  # the malformed credentials called nothing


def test_metadata_keeps_to_the_basic_tokens_budget() -> None:
    meta = WildberriesGetStocksIntegration().metadata
    assert meta.side_effect.value == "none"  # a POST, but a read
    assert {(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits} == {
        ("credential", 150, 60.0),
        ("credential", 10, 1.0),
    }
