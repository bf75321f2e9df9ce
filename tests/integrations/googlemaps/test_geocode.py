"""googlemaps_geocode against the fake Geocoding API over a real loopback socket."""

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
from integrations.googlemaps.geocode import METADATA, GoogleMapsGeocodeIntegration
from integrations.googlemaps.testing import FakeGoogleMaps
from integrations.outcome import OutcomeCategory, classify


async def geocode(
    action: GoogleMapsGeocodeIntegration,
    config: dict[str, Any],
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_address_geocodes_to_a_compact_result(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    api_key: str,
    logger: BotLogger,
) -> None:
    returned = await geocode(action, {"address": "Red Square, Moscow"}, resolver, bot_id, logger)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    result = returned["response"]["result"]
    assert result["status"] == "OK"
    assert result["count"] == 1
    [place] = result["results"]
    assert place["formatted_address"] == "Red Square, Moscow"
    assert (place["lat"], place["lng"]) == (55.7539303, 37.620795)
    assert place["location_type"] == "ROOFTOP"
    assert place["place_id"].startswith("ChIJ")
    assert place["types"] == ["establishment"]
    [call] = fake.calls
    assert (call.method, call.path) == ("GET", "/maps/api/geocode/json")
    assert call.params == {"address": "Red Square, Moscow", "key": api_key}
    assert resolver.calls == [(bot_id, "googlemaps", "api_key")]
    assert api_key not in repr(returned)


async def test_components_language_and_region_reach_google(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {
        "address": "Red Square, Moscow",
        "components": {"country": "RU", "locality": "Moscow"},
        "language": "ru",
        "region": "ru",
    }
    await geocode(action, config, resolver, bot_id, logger)
    params = fake.calls[0].params
    assert params["components"] == "country:RU|locality:Moscow"
    assert (params["language"], params["region"]) == ("ru", "ru")


async def test_reverse_geocoding_by_latlng(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {"latlng": {"lat": 37.4224, "lng": -122.0842}}
    returned = await geocode(action, config, resolver, bot_id, logger)
    assert fake.calls[0].params["latlng"] == "37.4224,-122.0842"
    [place] = returned["response"]["result"]["results"]
    assert place["formatted_address"].startswith("1600 Amphitheatre")


async def test_zero_results_is_a_success_with_no_results(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    returned = await geocode(action, {"address": "Nowhere 0"}, resolver, bot_id, logger)
    assert returned["response"] == {
        "ok": True,
        "result": {"status": "ZERO_RESULTS", "count": 0, "results": []},
    }
    assert fake.calls[0].body["status"] == "ZERO_RESULTS"


async def test_max_results_trims_but_count_tells_the_total(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    for n in range(3):
        fake.add_place(f"Spot {n}", 10.0 + n / 1000, 20.0)
    config = {"latlng": {"lat": 10.001, "lng": 20.0}, "max_results": 2}
    result = (await geocode(action, config, resolver, bot_id, logger))["response"]["result"]
    assert result["count"] == 3
    assert len(result["results"]) == 2


async def test_credentials_without_a_key_name_the_field(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute(
            {"address": "x"}, make_resolver({bot_id: {"token": "v"}}), bot_id, logger
        )
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "expected", "category", "code"),
    [
        ("over_query_limit", RateLimitedError, OutcomeCategory.RATE_LIMITED, 429),
        ("request_denied", AuthError, OutcomeCategory.AUTH, 401),
        ("over_daily_limit", PermanentError, OutcomeCategory.PERMANENT, 403),
        ("invalid_request", InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400),
        ("unknown_error", TransientError, OutcomeCategory.TRANSIENT, 503),
    ],
)
async def test_statuses_inside_http_200_become_typed_errors(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[IntegrationError],
    category: OutcomeCategory,
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.googlemaps")
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await geocode(action, {"address": "Red Square, Moscow"}, resolver, bot_id, logger)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    outcome = classify(error)
    assert outcome.category is category
    if kind == "over_query_limit":
        assert outcome.retry_after_s is None  # Google gives no hint: the processor backs off
        assert "rate-limit" in error.message  # Google's error_message is passed on
    assert fake.calls[0].status == 200  # the real service reports these inside a 200
    assert "Google Maps request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text
    returned = await geocode(action, {"address": "Red Square, Moscow"}, resolver, bot_id, logger)
    assert returned["response"]["ok"] is True  # one-shot fault: the next call works


async def test_a_rejected_key_never_reaches_messages_or_logs(
    fake: FakeGoogleMaps,
    action: GoogleMapsGeocodeIntegration,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Everything at DEBUG, httpx included: its request log holds the URL with ?key=...; the
    # worker installs SecretRedactingFilter on its handlers, as here.
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "AIzaSyWRONG-key-never-to-be-logged-000"
    resolver = make_resolver({bot_id: {"api_key": wrong}})
    with pytest.raises(AuthError) as caught:
        await geocode(action, {"address": "Red Square, Moscow"}, resolver, bot_id, logger)
    assert fake.calls[0].params["key"] == wrong
    assert "The provided API key is invalid." in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)
    assert wrong not in caplog.text
    assert all(wrong not in r.getMessage() for r in caplog.records)


async def test_a_status_this_code_does_not_know_is_permanent(
    action: GoogleMapsGeocodeIntegration,
    fake: FakeGoogleMaps,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    fake.fail_next(200, body={"results": [], "status": "MAX_ROUTE_LENGTH_EXCEEDED"})
    with pytest.raises(PermanentError) as caught:
        await geocode(action, {"address": "Red Square, Moscow"}, resolver, bot_id, logger)
    assert caught.value.code == 502
    assert "MAX_ROUTE_LENGTH_EXCEEDED" in caught.value.message


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({}, "$"),
        ({"address": ""}, "address"),
        ({"address": "x" * 1025}, "address"),
        ({"address": "x", "latlng": {"lat": 1, "lng": 2}}, "$"),
        ({"latlng": {"lat": 91, "lng": 2}}, "lat"),
        ({"latlng": {"lat": 1}}, "lng"),
        ({"address": "x", "components": {"country": "Russia"}}, "country"),
        ({"address": "x", "components": {"route": "a|b"}}, "route"),
        ({"address": "x", "components": {"planet": "Earth"}}, "planet"),
        ({"address": "x", "language": "Russian"}, "language"),
        ({"address": "x", "max_results": 11}, "max_results"),
        ({"address": "x", "key": "sneaky"}, "key"),
    ],
)
def test_config_schema_rejects_before_any_call(config: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert path in caught.value.message
    assert classify(caught.value).category is OutcomeCategory.INVALID_CONFIG


def test_metadata_values() -> None:
    meta = GoogleMapsGeocodeIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == ("googlemaps_geocode", "1.0.0", "maps")
    assert meta.icon_s3_key == "icons/integrations/googlemaps.svg"
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("googlemaps", "api_key")
    assert meta.library_name == "httpx"
    assert (meta.side_effect.value, meta.supports_idempotency_key) == ("none", False)
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 3000, 60.0)
    ]
    assert meta.config_schema["additionalProperties"] is False
