"""yandexweather_forecast against the fake Weather API (GraphQL) over a real loopback socket.

Only what is Yandex Weather's own: the cases every integration shares are in
``../test_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.outcome import OutcomeCategory, classify
from integrations.yandexweather.client import seconds_until_reset
from integrations.yandexweather.forecast import QUERY, YandexWeatherForecastIntegration
from integrations.yandexweather.testing import FakeYandexWeather
from support.integrations import Run, failures, http_clients

Resolver = Callable[[dict[str, Any] | None], Any]
MOSCOW = {"lat": 55.7558, "lon": 37.6173}


async def test_the_weather_now_and_by_day_in_stated_units(
    run: Run, fake: FakeYandexWeather, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({**MOSCOW, "days": 2})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    [call] = fake.calls
    assert (call.path, call.key, call.headers["Content-Type"]) == (
        "/graphql/query", api_key, "application/json"
    )  # fmt: skip
    assert call.query == QUERY  # our constant; the config's values are variables only
    assert call.variables == {**MOSCOW, "days": 2}
    assert resolver.calls == [(bot_id, "yandexweather", "api_key")]
    result = returned["response"]["result"]
    assert (result["lat"], result["lon"]) == (55.7558, 37.6173)
    assert result["now"] == {
        "temperature": -5, "feels_like": -9, "condition": "LIGHT_SNOW", "wind_speed": 4.0,
        "wind_direction": "NORTH_WEST", "humidity": 86, "pressure": 748,
    }  # fmt: skip
    assert result["units"] == {
        "temperature": "°C", "wind_speed": "m/s", "pressure": "mmHg", "humidity": "%"
    }  # fmt: skip
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).date()
    first, second = result["days"]
    assert first == {"date": today.isoformat(), "temp_min": -10, "temp_max": -3,
                     "condition": "LIGHT_SNOW"}  # fmt: skip  # the night's low, the day's high
    assert second["date"] == (today + dt.timedelta(days=1)).isoformat()
    assert api_key not in repr(returned)


@pytest.mark.parametrize(("config", "days"), [({}, 3), ({"days": 1}, 1), ({"days": 10}, 10)])
async def test_days_default_to_three_and_reach_ten(
    run: Run, fake: FakeYandexWeather, config: dict[str, Any], days: int
) -> None:
    result = (await run({"lat": 52.37, "lon": 4.89, **config}))["response"]["result"]
    assert fake.calls[0].variables["days"] == days
    assert len(result["days"]) == days
    assert result["now"]["condition"] == "CLOUDY"  # Amsterdam, the nearest known point


async def test_a_place_the_fake_does_not_know_still_has_weather(run: Run) -> None:
    result = (await run({"lat": -33.9, "lon": 151.2, "days": 1}))["response"]["result"]
    assert (result["now"]["condition"], result["now"]["wind_direction"]) == ("CLEAR", "CALM")


def _graphql(errors_: list[dict[str, Any]], data: Any = None) -> Callable[[FakeYandexWeather], Any]:
    return lambda fake: fake.fail_next(200, body={"errors": errors_, "data": data})


def _forbidden(text: str) -> Callable[[FakeYandexWeather], Any]:
    return lambda fake: fake.fail_next(
        403, body=text.encode(), headers={"Content-Type": "text/plain"}
    )


@pytest.mark.parametrize(
    ("arrange", "expected", "code", "says"),
    [
        (lambda fake: fake.inject("wrong_key"), errors.AuthError, 403, "missing or wrong key"),
        (lambda fake: fake.inject("expired_plan"), errors.AuthError, 403,
         "Test plan lasts 30 days"),
        (lambda fake: fake.inject("daily_limit"), errors.RateLimitedError, 429,
         "daily request limit is used up"),
        # The reason in another shape: JSON, or Russian plain text.
        (lambda fake: fake.fail_next(403, body={"message": "API key expired"}), errors.AuthError,
         403, "plan has expired"),
        (_forbidden("Превышен суточный лимит запросов"), errors.RateLimitedError, 429,
         "next day"),
        # GraphQL errors come inside HTTP 200: never a success.
        (lambda fake: fake.inject("graphql_error"), errors.PermanentError, 400,
         "GraphQL error BAD_REQUEST: Validation error"),
        (lambda fake: fake.inject("internal_error"), errors.TransientError, 503,
         "Internal server error"),
        (_graphql([{"message": "Bad lat"}], data={"weatherByPoint": {"now": {}}}),
         errors.PermanentError, 400, "Bad lat"),  # partial data with errors is still an error
        (_graphql([{"message": "Not authorized", "extensions": {"code": "UNAUTHENTICATED"}}]),
         errors.AuthError, 403, "Not authorized"),
        (_graphql([{"message": "Request limit exceeded"}]), errors.RateLimitedError, 429,
         "Request limit exceeded"),
        (_graphql(["boom"], data={"weatherByPoint": {}}), errors.PermanentError, 400, "boom"),
        (lambda fake: fake.fail_next(200, body={"data": {"somethingElse": 1}}),
         errors.TransientError, 502, "not a Yandex Weather answer"),
    ],
    ids=["wrong-key", "expired-plan", "daily-limit", "expired-json", "limit-russian",
         "graphql-validation", "graphql-internal", "graphql-partial-data", "graphql-auth",
         "graphql-limit", "graphql-bare-string", "no-weather-in-200"],
)  # fmt: skip
async def test_weather_api_errors_become_typed_errors(
    run: Run,
    fake: FakeYandexWeather,
    api_key: str,
    arrange: Callable[[FakeYandexWeather], object],
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
) -> None:
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(MOSCOW)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert says in error.message
    outcome = classify(error)
    assert outcome.maybe_executed is False  # a read: nothing to repeat
    if expected is errors.RateLimitedError:
        # The daily cap resets the next day: wait until then, not a blind backoff.
        assert outcome.retry_after_s == pytest.approx(seconds_until_reset(), abs=5)
    assert api_key not in repr(outcome)


def test_the_daily_cap_resets_at_midnight_moscow_time() -> None:
    at = dt.datetime(2026, 12, 3, 20, 59, tzinfo=dt.UTC).timestamp()  # 23:59 in Moscow
    assert seconds_until_reset(at) == 60
    assert seconds_until_reset(at + 60) == 86_400
    assert 0 < seconds_until_reset() <= 86_400


async def test_a_slow_answer_is_transient_and_not_executed(
    make_resolver: Resolver, api_key: str, logger: BotLogger, bot_id: str
) -> None:
    async with FakeYandexWeather(api_keys={api_key}) as fake:
        fake.stall_next(5.0)
        async with http_clients("yandexweather", base_url=fake.url, timeout_s=0.3) as clients:
            action = YandexWeatherForecastIntegration(clients)
            with pytest.raises(errors.TransientError) as caught:
                await action.execute(MOSCOW, make_resolver({"api_key": api_key}), bot_id, logger)
    assert caught.value.maybe_executed is False
    assert "no answer in time" in caught.value.message


async def test_the_key_never_reaches_messages_or_logs(
    run: Run,
    fake: FakeYandexWeather,
    make_resolver: Resolver,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "0b1e2c3d-4f5a-6b7c-8d9e-0f1a2b3c4d5e"
    seen = await failures(
        run, MOSCOW, (lambda: None, lambda: fake.fail_next(500), lambda: fake.drop_next()),
        credentials=make_resolver({"api_key": wrong}), secrets=logger.secrets,
    )  # fmt: skip
    assert isinstance(seen[0][0], errors.AuthError)  # the wrong key itself
    assert "Yandex Weather request failed" in caplog.text
    assert wrong not in caplog.text
    assert all(wrong not in repr(outcome) for _, outcome in seen)
    # It went in its header only, on every request (the faulted ones included).
    assert [r.headers.get("X-Yandex-Weather-Key") for r in fake.requests] == [wrong] * 3


async def test_the_key_may_be_stored_as_key_but_not_under_another_name(
    run: Run, fake: FakeYandexWeather, api_key: str, make_resolver: Resolver
) -> None:
    returned = await run(MOSCOW, credentials=make_resolver({"key": f" {api_key}\n"}))
    assert returned["response"]["ok"] is True  # whitespace around a pasted key is stripped
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(MOSCOW, credentials=make_resolver({"token": "x"}))
    assert [call.key for call in fake.calls] == [api_key]  # the malformed ones called nothing


def test_metadata_is_a_read_within_the_paid_plans_monthly_requests() -> None:
    meta = YandexWeatherForecastIntegration().metadata
    assert (meta.id, meta.category.value, meta.side_effect.value) == (
        "yandexweather_forecast", "weather", "none"
    )  # fmt: skip
    assert (meta.credentials_provider, meta.credentials_strategy.value) == (
        "yandexweather", "api_key"
    )  # fmt: skip
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 100_000, 30 * 86_400.0)
    ]
