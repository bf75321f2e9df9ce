"""openweathermap_current_weather against the fake OWM over a real loopback socket."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from integrations.openweathermap.current_weather import (
    METADATA,
    OpenWeatherMapCurrentWeatherIntegration,
)
from integrations.openweathermap.testing import FakeOpenWeatherMap
from integrations.outcome import OutcomeCategory, classify

Resolver = Callable[[dict[str, Any] | None], Any]


async def weather(
    action: OpenWeatherMapCurrentWeatherIntegration,
    config: dict[str, Any],
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_city_weather_in_metric_by_default(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
) -> None:
    returned = await weather(action, {"city": "Moscow,RU", "lang": "ru"}, resolver, logger, bot_id)
    [call] = fake.calls
    assert call.appid == api_key
    assert call.params == {"q": "Moscow,RU", "units": "metric", "lang": "ru"}
    assert resolver.calls == [(bot_id, "openweathermap", "api_key")]
    result = returned["response"]["result"]
    assert (result["city"], result["country"], result["city_id"]) == ("Moscow", "RU", 524901)
    assert result["temperature"] == -5.0
    assert (result["condition"], result["description"]) == ("Snow", "небольшой снег")
    assert result["units"] == "metric"
    assert result["coord"] == {"lat": 55.7522, "lon": 37.6156}
    assert result["timezone_offset_s"] == 10800
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


@pytest.mark.parametrize(
    ("config", "sent", "city"),
    [
        ({"lat": 51.5, "lon": -0.12}, {"lat": "51.5", "lon": "-0.12"}, "London"),
        ({"city_id": 587084}, {"id": "587084"}, "Baku"),
        ({"zip": "94040,us"}, {"zip": "94040,us"}, "Mountain View"),
        ({"city": "London,uk"}, {"q": "London,uk"}, "London"),
    ],
)
async def test_every_way_to_name_the_place(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    config: dict[str, Any],
    sent: dict[str, str],
    city: str,
) -> None:
    returned = await weather(action, {**config, "units": "imperial"}, resolver, logger, bot_id)
    assert fake.calls[0].params == {**sent, "units": "imperial"}
    assert returned["response"]["result"]["city"] == city
    assert returned["response"]["result"]["units"] == "imperial"


async def test_unknown_city_is_a_permanent_404_with_a_string_cod(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    with pytest.raises(PermanentError) as caught:
        await weather(action, {"city": "Atlantis"}, resolver, logger, bot_id)
    assert caught.value.code == 404
    assert "city not found" in caught.value.message
    assert classify(caught.value).category is OutcomeCategory.PERMANENT
    assert fake.calls[0].status == 404


async def test_values_owm_refuses_are_invalid_config(
    action: OpenWeatherMapCurrentWeatherIntegration,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
) -> None:
    # A caller that skipped validation: OWM's own 400s (string cod) answer.
    with pytest.raises(InvalidConfigError, match="wrong latitude"):
        await action.execute({"lat": 91, "lon": 0}, resolver, bot_id, logger)
    with pytest.raises(InvalidConfigError, match="Nothing to geocode") as caught:
        await action.execute({"city": ","}, resolver, bot_id, logger)
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("kind", "expected", "code", "category"),
    [
        ("rate_limit", RateLimitedError, 429, OutcomeCategory.RATE_LIMITED),
        ("invalid_key", AuthError, 401, OutcomeCategory.AUTH),
        ("error_in_200", PermanentError, 404, OutcomeCategory.PERMANENT),
    ],
)
async def test_injected_errors_become_typed_errors(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
    kind: str,
    expected: type[IntegrationError],
    code: int,
    category: OutcomeCategory,
) -> None:
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await weather(action, {"city": "London"}, resolver, logger, bot_id)
    assert type(caught.value) is expected
    assert caught.value.code == code
    outcome = classify(caught.value)
    assert outcome.category is category
    assert api_key not in repr(outcome)
    if kind == "rate_limit":
        assert outcome.retry_after_s is None  # OWM sends no Retry-After: the processor backs off
        assert "temporary blocked" in caught.value.message
    returned = await weather(action, {"city": "London"}, resolver, logger, bot_id)
    assert returned["response"]["ok"] is True  # one-shot fault


@pytest.mark.parametrize(
    ("cod", "message", "expected", "code"),
    [
        (404, "city not found", PermanentError, 404),
        ("404", "city not found", PermanentError, 404),
        ("400", "Nothing to geocode", InvalidConfigError, 400),
        (401, "Invalid API key.", AuthError, 401),
    ],
)
async def test_an_error_cod_inside_a_200_is_that_error_number_or_string(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    resolver: Any,
    logger: BotLogger,
    bot_id: str,
    cod: int | str,
    message: str,
    expected: type[IntegrationError],
    code: int,
) -> None:
    fake.fail_next(200, body={"cod": cod, "message": message})
    with pytest.raises(IntegrationError) as caught:
        await weather(action, {"city": "London"}, resolver, logger, bot_id)
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({}, "$"),
        ({"units": "metric"}, "$"),
        ({"city": "London", "city_id": 1}, "$"),
        ({"lat": 10}, "lon"),
        ({"lat": 91, "lon": 0}, "lat"),
        ({"lat": 0, "lon": 181}, "lon"),
        ({"city": ""}, "city"),
        ({"city_id": 0}, "city_id"),
        ({"zip": "94040"}, "zip"),
        ({"city": "x", "units": "kelvin"}, "units"),
        ({"city": "x", "lang": "Russian"}, "lang"),
        ({"city": "x", "appid": "k"}, "appid"),
    ],
)
def test_config_schema_rejects(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert problem in caught.value.message


async def test_the_key_never_reaches_messages_or_logs(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG everywhere: httpx logs the request URL, and the key is its appid parameter, which the
    # worker's SecretRedactingFilter blanks out by its name.
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "0123456789abcdef0123456789abcdef"
    outcomes = []
    with pytest.raises(AuthError) as rejected:
        await weather(action, {"city": "London"}, make_resolver({"api_key": wrong}), logger, bot_id)
    assert "Invalid API key" in rejected.value.message
    outcomes.append(classify(rejected.value, secrets=logger.secrets))
    for arrange in (
        lambda: fake.inject("rate_limit"),
        lambda: fake.fail_next(500),
        lambda: fake.drop_next(),
    ):
        arrange()
        with pytest.raises(IntegrationError) as caught:
            await weather(
                action, {"city": "London"}, make_resolver({"api_key": wrong}), logger, bot_id
            )
        outcomes.append(classify(caught.value, secrets=logger.secrets))
    assert "OpenWeatherMap request failed" in caplog.text
    assert "appid" in caplog.text  # httpx's request line is there, with the key blanked out
    assert wrong not in caplog.text
    assert all(wrong not in repr(o) for o in outcomes)


async def test_malformed_credentials_name_the_field_and_appid_is_accepted(
    action: OpenWeatherMapCurrentWeatherIntegration,
    fake: FakeOpenWeatherMap,
    make_resolver: Resolver,
    logger: BotLogger,
    bot_id: str,
    api_key: str,
) -> None:
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute({"city": "Baku"}, make_resolver({"token": "x"}), bot_id, logger)
    assert fake.calls == []
    # OWM's own name for the key works too.
    appid = make_resolver({"appid": api_key})
    assert (await action.execute({"city": "Baku"}, appid, bot_id, logger))["response"]["ok"]


def test_metadata_values() -> None:
    meta = OpenWeatherMapCurrentWeatherIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "openweathermap_current_weather",
        "1.0.0",
        "weather",
    )
    assert (meta.icon_s3_key, meta.color) == ("icons/integrations/openweathermap.svg", "#EB6E4B")
    assert (meta.credentials_provider, meta.credentials_strategy.value) == (
        "openweathermap",
        "api_key",
    )
    assert meta.library_name == "httpx"
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("none", False)
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 60, 60.0)
    ]
