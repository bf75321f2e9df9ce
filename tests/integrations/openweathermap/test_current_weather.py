"""openweathermap_current_weather against the fake OWM over a real loopback socket.

Only what is OpenWeatherMap's own: the cases every integration shares are in
``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.openweathermap.current_weather import (
    OpenWeatherMapCurrentWeatherIntegration,
)
from integrations.openweathermap.testing import FakeOpenWeatherMap
from integrations.outcome import OutcomeCategory, classify
from support.integrations import Run, failures

Resolver = Callable[[dict[str, Any] | None], Any]
LONDON = {"city": "London"}


async def test_city_weather_in_metric_by_default(
    run: Run, fake: FakeOpenWeatherMap, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({"city": "Moscow,RU", "lang": "ru"})
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
    run: Run, fake: FakeOpenWeatherMap, config: dict[str, Any], sent: dict[str, str], city: str
) -> None:
    result = (await run({**config, "units": "imperial"}))["response"]["result"]
    assert fake.calls[0].params == {**sent, "units": "imperial"}
    assert (result["city"], result["units"]) == (city, "imperial")


async def test_unknown_city_is_a_permanent_404_with_a_string_cod(
    run: Run, fake: FakeOpenWeatherMap
) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        await run({"city": "Atlantis"})
    assert caught.value.code == 404
    assert "city not found" in caught.value.message
    assert fake.calls[0].status == 404


async def test_values_owm_refuses_are_invalid_config(
    action: OpenWeatherMapCurrentWeatherIntegration, resolver: Any, logger: BotLogger, bot_id: str
) -> None:
    # A caller that skipped validation: OWM's own 400s (string cod) answer.
    with pytest.raises(errors.InvalidConfigError, match="wrong latitude"):
        await action.execute({"lat": 91, "lon": 0}, resolver, bot_id, logger)
    with pytest.raises(errors.InvalidConfigError, match="Nothing to geocode") as caught:
        await action.execute({"city": ","}, resolver, bot_id, logger)
    assert caught.value.code == 400


def _cod_in_200(cod: int | str, message: str) -> Callable[[FakeOpenWeatherMap], object]:
    return lambda fake: fake.fail_next(200, body={"cod": cod, "message": message})


@pytest.mark.parametrize(
    ("arrange", "expected", "code", "says"),
    [
        # OWM sends no Retry-After: the processor backs off.
        (lambda fake: fake.inject("rate_limit"), errors.RateLimitedError, 429, "temporary blocked"),
        (
            lambda fake: fake.inject("invalid_key"),
            errors.AuthError,
            401,
            "up to 2 hours to activate",
        ),
        # An error cod inside a 200 is that error, a number or a string.
        (_cod_in_200(404, "city not found"), errors.PermanentError, 404, "city not found"),
        (_cod_in_200("404", "city not found"), errors.PermanentError, 404, "city not found"),
        (
            _cod_in_200("400", "Nothing to geocode"),
            errors.InvalidConfigError,
            400,
            "Nothing to geocode",
        ),
        (_cod_in_200(401, "Invalid API key."), errors.AuthError, 401, "Invalid API key."),
    ],
    ids=["rate-limit", "invalid-key", "cod-404", "cod-404-string", "cod-400-string", "cod-401"],
)
async def test_owm_errors_become_typed_errors(
    run: Run,
    fake: FakeOpenWeatherMap,
    api_key: str,
    arrange: Callable[[FakeOpenWeatherMap], object],
    expected: type[errors.IntegrationError],
    code: int,
    says: str,
) -> None:
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(LONDON)
    outcome = classify(caught.value)
    assert (type(caught.value), caught.value.code, outcome.retry_after_s) == (expected, code, None)
    assert says in caught.value.message
    assert api_key not in repr(outcome)


async def test_the_key_never_reaches_messages_or_logs(
    run: Run,
    fake: FakeOpenWeatherMap,
    make_resolver: Resolver,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG everywhere: httpx logs the request URL, and the key is its appid parameter, which the
    # worker's SecretRedactingFilter blanks out by its name.
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "0123456789abcdef0123456789abcdef"
    seen = await failures(
        run, LONDON,
        (
            lambda: None,  # the wrong key itself
            lambda: fake.inject("rate_limit"),
            lambda: fake.fail_next(500),
            lambda: fake.drop_next(),
        ),
        credentials=make_resolver({"api_key": wrong}), secrets=logger.secrets,
    )  # fmt: skip
    assert isinstance(seen[0][0], errors.AuthError) and "Invalid API key" in seen[0][0].message
    assert "OpenWeatherMap request failed" in caplog.text
    assert "appid" in caplog.text  # httpx's request line is there, with the key blanked out
    assert wrong not in caplog.text
    assert all(wrong not in repr(outcome) for _, outcome in seen)


async def test_the_key_may_be_stored_as_appid_but_not_under_another_name(
    run: Run, fake: FakeOpenWeatherMap, api_key: str, make_resolver: Resolver
) -> None:
    returned = await run(LONDON, credentials=make_resolver({"appid": f" {api_key}\n"}))
    assert returned["response"]["ok"] is True  # OWM's own name for the key, whitespace stripped
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(LONDON, credentials=make_resolver({"token": "x"}))
    assert [call.appid for call in fake.calls] == [api_key]  # the malformed ones called nothing


def test_metadata_keeps_to_the_free_plans_60_calls_a_minute() -> None:
    meta = OpenWeatherMapCurrentWeatherIntegration().metadata
    assert (meta.category.value, meta.side_effect.value) == ("weather", "none")
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 60, 60.0)
    ]
