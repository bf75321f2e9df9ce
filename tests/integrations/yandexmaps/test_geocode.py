"""yandexmaps_geocode against the fake Geocoder HTTP API over a real loopback socket.

Only what is the Yandex Geocoder's own: the cases every integration shares are in
``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger, SecretRedactingFilter
from integrations.outcome import OutcomeCategory, classify
from integrations.yandexmaps.geocode import YandexMapsGeocodeIntegration
from integrations.yandexmaps.testing import FakeYandexGeocoder
from support.integrations import Run, failures

Resolver = Callable[[dict[str, Any] | None], Any]
RED_SQUARE = {"address": "Red Square, Moscow"}


async def test_an_address_geocodes_to_numbers_in_lat_lon_order(
    run: Run, fake: FakeYandexGeocoder, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run(RED_SQUARE)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    [call] = fake.calls
    assert call.path == "/v1/"
    assert call.apikey == api_key
    assert call.params == {
        "geocode": "Red Square, Moscow", "lang": "ru_RU", "format": "json", "results": "5"
    }  # fmt: skip
    assert resolver.calls == [(bot_id, "yandexmaps", "api_key")]
    result = returned["response"]["result"]
    assert result["count"] == 1
    [place] = result["results"]
    # Point.pos is "37.620795 55.753930" (longitude first): read back as lat 55.75, lon 37.62.
    assert (place["lat"], place["lon"]) == (55.75393, 37.620795)
    assert place == {
        "lat": 55.75393,
        "lon": 37.620795,
        "formatted_address": "Москва, Красная площадь",
        "name": "Красная площадь",
        "description": "Москва, Россия",
        "kind": "street",
        "precision": "street",
        "country_code": "RU",
        "postal_code": None,
        "components": [
            {"kind": "country", "name": "Россия"},
            {"kind": "province", "name": "Центральный федеральный округ"},
            {"kind": "province", "name": "Москва"},
            {"kind": "locality", "name": "Москва"},
            {"kind": "street", "name": "Красная площадь"},
        ],
    }
    assert api_key not in repr(returned)


async def test_a_house_in_english_with_its_postal_code(run: Run, fake: FakeYandexGeocoder) -> None:
    config = {"address": "Moscow, Novy Arbat Street, 24", "lang": "en_US", "results": 1}
    [place] = (await run(config))["response"]["result"]["results"]
    assert fake.calls[0].params["lang"] == "en_US"
    assert (place["name"], place["formatted_address"]) == (
        "Novy Arbat Street, 24", "Moscow, Novy Arbat Street, 24"
    )  # fmt: skip
    assert (place["kind"], place["precision"], place["postal_code"]) == ("house", "exact", "119019")
    assert (place["lat"], place["lon"]) == (55.753083, 37.587614)


async def test_reverse_sends_lon_then_lat_and_finds_the_smallest_toponym_first(
    run: Run, fake: FakeYandexGeocoder
) -> None:
    result = (await run({"lat": 55.753083, "lon": 37.587614}))["response"]["result"]
    assert fake.calls[0].params["geocode"] == "37.587614,55.753083"  # the Geocoder's order
    assert "kind" not in fake.calls[0].params
    kinds = [(place["kind"], place["name"]) for place in result["results"]]
    assert kinds == [("house", "улица Новый Арбат, 24"), ("locality", "Москва")]
    assert (result["results"][0]["lat"], result["results"][0]["lon"]) == (55.753083, 37.587614)


@pytest.mark.parametrize(
    ("kind", "point", "name"),
    [
        ("street", (55.7541, 37.6212), "Red Square"),
        ("metro", (55.7578, 37.6161), "Okhotny Ryad metro station"),
        ("district", (55.7600, 37.6050), "Tverskoy District"),
        ("locality", (55.7000, 37.5000), "Moscow"),
    ],
)
async def test_reverse_with_a_kind_answers_only_that_kind(
    run: Run, fake: FakeYandexGeocoder, kind: str, point: tuple[float, float], name: str
) -> None:
    lat, lon = point
    config = {"lat": lat, "lon": lon, "kind": kind, "lang": "en_RU"}
    result = (await run(config))["response"]["result"]
    assert fake.calls[0].params["kind"] == kind
    assert [(p["kind"], p["name"]) for p in result["results"]] == [(kind, name)]


async def test_the_point_swapped_would_be_somewhere_else_entirely(
    run: Run, fake: FakeYandexGeocoder
) -> None:
    # Red Square's numbers sent as lat,lon would be a point in Iran: the fake (like the
    # Geocoder) finds nothing there, so getting the order right is what finds Red Square.
    right = (await run({"lat": 55.7539, "lon": 37.6208, "kind": "street"}))["response"]
    wrong = (await run({"lat": 37.6208, "lon": 55.7539, "kind": "street"}))["response"]
    assert [p["formatted_address"] for p in right["result"]["results"]] == [
        "Москва, Красная площадь"
    ]
    assert wrong["result"] == {"count": 0, "results": []}


@pytest.mark.parametrize(
    ("lat", "lon", "sent"),
    [(1e-07, -1e-07, "-0.0000001,0.0000001"), (0.0, 0.0, "0,0"), (-33.5, 151.0, "151,-33.5")],
)
async def test_coordinates_are_sent_as_plain_decimals(
    run: Run, fake: FakeYandexGeocoder, lat: float, lon: float, sent: str
) -> None:
    await run({"lat": lat, "lon": lon})
    assert fake.calls[0].params["geocode"] == sent  # never "1e-07"


async def test_nothing_found_is_a_success_with_no_results(
    run: Run, fake: FakeYandexGeocoder
) -> None:
    returned = await run({"address": "Atlantis, Poseidon Street, 1"})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {"count": 0, "results": []}


async def test_results_trims_but_count_tells_what_was_found(
    run: Run, fake: FakeYandexGeocoder
) -> None:
    result = (await run({"address": "Moscow", "results": 2}))["response"]["result"]
    assert fake.calls[0].params["results"] == "2"
    assert (result["count"], len(result["results"])) == (5, 2)
    assert result["results"][0]["kind"] == "locality"  # the city itself ranks first
    result = (await run({"address": "Moscow", "results": 50}))["response"]["result"]
    assert result["count"] == len(result["results"]) == 5


@pytest.mark.parametrize(
    ("arrange", "expected", "code", "retry_after_s", "says"),
    [
        (lambda fake: fake.inject("invalid_key"), errors.AuthError, 403, None,
         "Invalid api key (a new key activates within 15 minutes"),
        (lambda fake: fake.inject("rate_limit"), errors.RateLimitedError, 429, None,
         "over 50 requests/s"),
        (lambda fake: fake.inject("daily_limit"), errors.RateLimitedError, 429, None,
         "1,000 requests a day"),
        (lambda fake: fake.fail_next(429, retry_after_s=7), errors.RateLimitedError, 429, 7.0,
         "Too Many Requests"),
        (lambda fake: fake.fail_next(400, body={"statusCode": 400, "error": "Bad Request",
                                                "message": "Missing geocode parameter"}),
         errors.InvalidConfigError, 400, None, "Missing geocode parameter"),
        (lambda fake: fake.fail_next(200, body={"response": {}}), errors.TransientError, 502,
         None, "not a Yandex Geocoder answer"),
        (lambda fake: fake.fail_next(503), errors.TransientError, 503, None, "injected"),
    ],
    ids=["invalid-key", "rate-limit", "daily-limit", "retry-after", "bad-request",
         "no-collection-in-200", "unavailable"],
)  # fmt: skip
async def test_geocoder_errors_become_typed_errors(
    run: Run,
    fake: FakeYandexGeocoder,
    api_key: str,
    arrange: Callable[[FakeYandexGeocoder], object],
    expected: type[errors.IntegrationError],
    code: int,
    retry_after_s: float | None,
    says: str,
) -> None:
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(RED_SQUARE)
    error = caught.value
    outcome = classify(error)
    assert (type(error), error.code, outcome.retry_after_s) == (expected, code, retry_after_s)
    assert says in error.message
    assert outcome.maybe_executed is False
    assert api_key not in repr(outcome)


async def test_the_geocoders_own_bad_request_names_the_parameter(
    action: YandexMapsGeocodeIntegration, resolver: Any, logger: BotLogger, bot_id: str
) -> None:
    # A caller that skipped validation: the Geocoder's own 400 answers, as invalid config.
    with pytest.raises(errors.InvalidConfigError, match="Invalid results parameter"):
        await action.execute({"address": "Moscow", "results": 500}, resolver, bot_id, logger)


async def test_the_key_in_the_query_string_never_reaches_messages_outcomes_or_logs(
    run: Run,
    fake: FakeYandexGeocoder,
    make_resolver: Resolver,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG everywhere: httpx logs the request URL, whose apikey parameter is the key; the
    # worker's SecretRedactingFilter blanks it out by its name.
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "deadbeef-0000-4000-8000-00000000ba5e"
    seen = await failures(
        run, RED_SQUARE,
        (
            lambda: None,  # the wrong key itself
            lambda: fake.fail_next(429),
            lambda: fake.fail_next(500),
            lambda: fake.fail_next(400, body={"statusCode": 400, "message": f"bad apikey={wrong}"}),
            lambda: fake.drop_next(),
        ),
        credentials=make_resolver({"api_key": wrong}), secrets=logger.secrets,
    )  # fmt: skip
    assert isinstance(seen[0][0], errors.AuthError) and "Invalid api key" in seen[0][0].message
    assert "Yandex Geocoder request failed" in caplog.text
    assert "apikey" in caplog.text  # httpx's request line is there, with the key blanked out
    assert wrong not in caplog.text
    assert all(wrong not in error.message and wrong not in repr(o) for error, o in seen)
    assert len(fake.requests) == 5  # every one of them reached the Geocoder with the key


async def test_the_key_may_be_stored_as_apikey_but_not_under_another_name(
    run: Run, fake: FakeYandexGeocoder, api_key: str, make_resolver: Resolver
) -> None:
    returned = await run(RED_SQUARE, credentials=make_resolver({"apikey": f"{api_key} "}))
    assert returned["response"]["ok"] is True
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(RED_SQUARE, credentials=make_resolver({"token": "x"}))
    assert [call.apikey for call in fake.calls] == [api_key]  # the malformed ones called nothing


def test_metadata_keeps_to_50_a_second_and_the_free_tiers_1000_a_day() -> None:
    meta = YandexMapsGeocodeIntegration().metadata
    assert (meta.id, meta.category.value, meta.side_effect.value) == (
        "yandexmaps_geocode", "maps", "none"
    )  # fmt: skip
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 50, 1.0), ("credential", 1000, 86_400.0)
    ]  # fmt: skip
