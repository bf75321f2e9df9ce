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
    TransientError,
)
from integrations.http import HttpClients
from integrations.outcome import OutcomeCategory, classify
from integrations.registry import IntegrationRegistry
from integrations.wildberries.fake import FakeWildberries
from integrations.wildberries.get_stocks import METADATA, WildberriesGetStocksIntegration
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
    assert "NotFound" in caught.value.message
    assert fake.calls[0].status == 404


@pytest.mark.parametrize(
    ("kind", "options", "expected", "category", "code"),
    [
        ("rate_limit", {"retry_after": 7}, RateLimitedError, OutcomeCategory.RATE_LIMITED, 429),
        ("unauthorized", {}, AuthError, OutcomeCategory.AUTH, 401),
        ("forbidden", {}, AuthError, OutcomeCategory.AUTH, 403),
        ("payment_required", {}, PermanentError, OutcomeCategory.PERMANENT, 402),
        ("not_found", {}, PermanentError, OutcomeCategory.PERMANENT, 404),
        ("bad_request", {}, InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400),
        ("server_error", {}, TransientError, OutcomeCategory.TRANSIENT, 500),
        ("server_error", {"status": 502}, TransientError, OutcomeCategory.TRANSIENT, 502),
        ("disconnect", {}, TransientError, OutcomeCategory.TRANSIENT, 503),
    ],
)
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
    options: dict[str, Any],
    expected: type[IntegrationError],
    category: OutcomeCategory,
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.wildberries")
    fake.inject(kind, **options)  # type: ignore[arg-type]
    config = {"warehouse_id": warehouse, "chrt_ids": [12345678]}
    with pytest.raises(IntegrationError) as caught:
        await stocks(action, config, resolver, bot_id, logger)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    outcome = classify(error)
    assert outcome.category is category
    if kind == "rate_limit":
        assert error.retry_after_s == 7  # type: ignore[attr-defined]  # X-Ratelimit-Retry
        assert outcome.retry_after_s == 7
        assert "limited by" in error.message  # WB's problem+json detail is passed on
    assert "wildberries stocks failed" in caplog.text
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


async def test_a_slow_wildberries_is_transient(
    fake: FakeWildberries, resolver: Any, bot_id: str, warehouse: int, logger: BotLogger
) -> None:
    fake.inject("timeout", delay_s=5)
    clients = HttpClients({"wildberries": EndpointSettings(base_url=fake.url, timeout_s=0.3)})
    try:
        with pytest.raises(TransientError) as caught:
            await stocks(
                WildberriesGetStocksIntegration(clients),
                {"warehouse_id": warehouse, "chrt_ids": [1]},
                resolver,
                bot_id,
                logger,
            )
    finally:
        await clients.aclose()
    assert caught.value.code == 504


async def test_missing_credentials_give_the_seed_envelope(
    action: WildberriesGetStocksIntegration,
    fake: FakeWildberries,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    config = {"warehouse_id": 1, "chrt_ids": [1]}
    returned = await action.execute(config, make_resolver({}), bot_id, logger)
    assert returned == {
        "response": {"ok": False, "error_code": 401, "description": "Credentials not found"}
    }
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


def test_metadata_is_complete_and_registers() -> None:
    meta = WildberriesGetStocksIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "wildberries_get_stocks",
        "1.0.0",
        "ecommerce",
    )
    assert meta.icon_s3_key == "icons/integrations/wildberries.svg"
    assert (meta.credentials_provider, meta.credentials_strategy.value) == (
        "wildberries",
        "api_key",
    )
    assert (meta.library_name, meta.side_effect.value) == ("httpx", "none")
    assert {(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits} == {
        ("credential", 150, 60.0),
        ("credential", 10, 1.0),
    }
    registry = IntegrationRegistry()
    registry.register(WildberriesGetStocksIntegration())
    assert registry.metadata("wildberries_get_stocks") == meta


async def test_discovery_registers_the_package_and_the_action_runs_on_given_clients(
    clients: HttpClients,
    fake: FakeWildberries,
    resolver: Any,
    bot_id: str,
    warehouse: int,
    logger: BotLogger,
) -> None:
    from integrations.discovery import discover

    registry = IntegrationRegistry()
    discover(registry, ("wildberries",), entry_point_group=None)
    assert isinstance(registry.get("wildberries_get_stocks"), WildberriesGetStocksIntegration)
    integration = WildberriesGetStocksIntegration(clients)
    returned = await integration.execute(
        {"warehouse_id": warehouse, "chrt_ids": [12345678]}, resolver, bot_id, logger
    )
    assert returned["response"]["result"]["total_amount"] == 10
