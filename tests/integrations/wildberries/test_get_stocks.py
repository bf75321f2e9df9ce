"""wildberries_get_stocks against the fake Marketplace API over a real loopback socket."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    PermanentError,
    RateLimitedError,
)
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from integrations.wildberries.get_stocks import METADATA, WildberriesGetStocksIntegration
from integrations.wildberries.testing import FakeWildberries
from processors.settings import EndpointSettings


async def stocks(
    action: WildberriesGetStocksIntegration,
    config: dict[str, Any],
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_stocks_are_read_with_the_raw_token(
    action: WildberriesGetStocksIntegration,
    fake: FakeWildberries,
    resolver: Any,
    bot_id: str,
    token: str,
    warehouse: int,
    logger: BotLogger,
) -> None:
    config = {"warehouse_id": warehouse, "chrt_ids": [12345678, 12345679, 999]}
    returned = await stocks(action, config, resolver, bot_id, logger)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "warehouse_id": warehouse,
        "stocks": [{"chrt_id": 12345678, "amount": 10}, {"chrt_id": 12345679, "amount": 0}],
        "total_amount": 10,
        "missing_chrt_ids": [999],
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", f"/api/v3/stocks/{warehouse}")
    assert call.body == {"chrtIds": [12345678, 12345679, 999]}
    assert call.token == token  # raw, no "Bearer"
    assert resolver.calls == [(bot_id, "wildberries", "api_key")]
    assert token not in repr(returned)


async def test_an_unknown_warehouse_is_permanent(
    action: WildberriesGetStocksIntegration,
    fake: FakeWildberries,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    with pytest.raises(PermanentError) as caught:
        await stocks(action, {"warehouse_id": 1, "chrt_ids": [1]}, resolver, bot_id, logger)
    assert caught.value.code == 404
    assert "HTTP 404 NotFound: Склад не найден" in caught.value.message
    assert fake.calls[0].status == 404


@pytest.mark.parametrize(
    ("kind", "expected", "category", "code", "says"),
    [
        ("forbidden", AuthError, OutcomeCategory.AUTH, 403, "'Marketplace' category"),
        ("payment_required", PermanentError, OutcomeCategory.PERMANENT, 402, "insufficient funds"),
        ("bad_request", InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400,
         "HTTP 400 IncorrectRequestBody"),
    ],
)  # fmt: skip
async def test_wb_errors_become_typed_errors(
    action: WildberriesGetStocksIntegration,
    fake: FakeWildberries,
    resolver: Any,
    bot_id: str,
    token: str,
    warehouse: int,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[IntegrationError],
    category: OutcomeCategory,
    code: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.wildberries")
    fake.inject(kind)  # type: ignore[arg-type]
    config = {"warehouse_id": warehouse, "chrt_ids": [12345678]}
    with pytest.raises(IntegrationError) as caught:
        await stocks(action, config, resolver, bot_id, logger)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    assert classify(error).category is category
    assert says in error.message
    assert "Wildberries request failed" in caplog.text
    assert token not in str(error)
    assert token not in caplog.text
    returned = await stocks(action, config, resolver, bot_id, logger)
    assert returned["response"]["ok"] is True  # one-shot fault: the next call works


async def test_the_token_bucket_answers_429_with_x_ratelimit_retry(
    resolver: Any, bot_id: str, warehouse: int, logger: BotLogger
) -> None:
    async with FakeWildberries(burst=2, refill_per_s=0.5) as fake:
        fake.set_stock(warehouse, chrt_id=1, amount=3)
        clients = HttpClients({"wildberries": EndpointSettings(base_url=fake.url)})
        action = WildberriesGetStocksIntegration(clients)
        config = {"warehouse_id": warehouse, "chrt_ids": [1]}
        try:
            for _ in range(2):
                await stocks(action, config, resolver, bot_id, logger)
            with pytest.raises(RateLimitedError) as caught:
                await stocks(action, config, resolver, bot_id, logger)
        finally:
            await clients.aclose()
    assert caught.value.retry_after_s == 2  # one token at 0.5/s
    assert fake.calls[-1].status == 429


async def test_a_rejected_token_never_reaches_messages_or_logs(
    fake: FakeWildberries,
    action: WildberriesGetStocksIntegration,
    bot_id: str,
    warehouse: int,
    logger: BotLogger,
    make_resolver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "wb-wrong-token-that-must-never-be-logged-42"
    resolver = make_resolver({bot_id: {"token": wrong}})
    with pytest.raises(AuthError) as caught:
        await stocks(action, {"warehouse_id": warehouse, "chrt_ids": [1]}, resolver, bot_id, logger)
    assert fake.calls[0].token == wrong
    assert "token problem" in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert wrong not in caplog.text


async def test_credentials_without_a_token_are_an_auth_error_before_any_call(
    action: WildberriesGetStocksIntegration,
    fake: FakeWildberries,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    config = {"warehouse_id": 1, "chrt_ids": [1]}
    with pytest.raises(AuthError, match="no 'token'"):
        await action.execute(config, make_resolver({bot_id: {"user": "x"}}), bot_id, logger)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"chrt_ids": [1]}, "warehouse_id"),
        ({"warehouse_id": 0, "chrt_ids": [1]}, "warehouse_id"),
        ({"warehouse_id": "507", "chrt_ids": [1]}, "warehouse_id"),
        ({"warehouse_id": 1, "chrt_ids": []}, "chrt_ids"),
        ({"warehouse_id": 1, "chrt_ids": list(range(1, 1002))}, "chrt_ids"),
        ({"warehouse_id": 1, "chrt_ids": [5, 5]}, "chrt_ids"),
        ({"warehouse_id": 1, "chrt_ids": [-1]}, "chrt_ids[0]"),
        ({"warehouse_id": 1, "chrt_ids": ["1"]}, "chrt_ids[0]"),
        ({"warehouse_id": 1, "chrt_ids": [1], "skus": ["x"]}, "skus"),
    ],
)
def test_config_schema_rejects_before_any_call(config: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert path in caught.value.message


def test_metadata_keeps_to_the_basic_tokens_budget() -> None:
    meta = WildberriesGetStocksIntegration().metadata
    assert meta.side_effect.value == "none"  # a POST, but a read
    assert {(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits} == {
        ("credential", 150, 60.0),
        ("credential", 10, 1.0),
    }
