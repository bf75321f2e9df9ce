"""googlemaps_geocode against the fake Geocoding API over a real loopback socket.

Only what is Google Maps' own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.googlemaps.geocode import GoogleMapsGeocodeIntegration
from integrations.googlemaps.testing import FakeGoogleMaps
from integrations.outcome import OutcomeCategory, classify
from support.integrations import Run

Resolver = Callable[[dict[str, Any] | None], Any]
RED_SQUARE = {"address": "Red Square, Moscow"}


async def test_an_address_geocodes_to_a_compact_result(
    run: Run, fake: FakeGoogleMaps, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run(RED_SQUARE)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    result = returned["response"]["result"]
    assert (result["status"], result["count"]) == ("OK", 1)
    [place] = result["results"]
    assert place == {
        "formatted_address": "Red Square, Moscow",
        "lat": 55.7539303,
        "lng": 37.620795,
        "location_type": "ROOFTOP",
        "place_id": fake.places["red square, moscow"]["place_id"],
        "types": ["establishment"],
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("GET", "/maps/api/geocode/json")
    assert call.params == {**RED_SQUARE, "key": api_key}
    assert resolver.calls == [(bot_id, "googlemaps", "api_key")]
    assert api_key not in repr(returned)


@pytest.mark.parametrize(
    ("config", "sent", "status", "found"),
    [
        ({**RED_SQUARE, "components": {"locality": "Moscow", "country": "RU"}, "language": "ru",
          "region": "ru"},
         {**RED_SQUARE, "components": "country:RU|locality:Moscow", "language": "ru",
          "region": "ru"},
         "OK", ["Red Square, Moscow"]),
        ({"latlng": {"lat": 37.4224, "lng": -122.0842}}, {"latlng": "37.4224,-122.0842"},
         "OK", ["1600 Amphitheatre Parkway, Mountain View, CA"]),
        # ZERO_RESULTS is an empty answer, not an error.
        ({"address": "Nowhere 0"}, {"address": "Nowhere 0"}, "ZERO_RESULTS", []),
    ],
    ids=["components-language-region", "reverse", "zero-results"],
)  # fmt: skip
async def test_what_is_sent_and_what_comes_back(
    run: Run,
    fake: FakeGoogleMaps,
    api_key: str,
    config: dict[str, Any],
    sent: dict[str, str],
    status: str,
    found: list[str],
) -> None:
    result = (await run(config))["response"]["result"]
    assert fake.calls[0].params == {**sent, "key": api_key}
    assert (result["status"], result["count"]) == (status, len(found))
    assert [place["formatted_address"] for place in result["results"]] == found


async def test_max_results_trims_but_count_tells_the_total(run: Run, fake: FakeGoogleMaps) -> None:
    for n in range(3):
        fake.add_place(f"Spot {n}", 10.0 + n / 1000, 20.0)
    returned = await run({"latlng": {"lat": 10.001, "lng": 20.0}, "max_results": 2})
    result = returned["response"]["result"]
    assert (result["count"], len(result["results"])) == (3, 2)


async def test_the_key_may_be_stored_as_key_but_not_under_another_name(
    run: Run, fake: FakeGoogleMaps, api_key: str, make_resolver: Resolver
) -> None:
    returned = await run(RED_SQUARE, credentials=make_resolver({"key": api_key}))
    assert returned["response"]["ok"] is True
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(RED_SQUARE, credentials=make_resolver({"token": "v"}))
    assert len(fake.calls) == 1  # the malformed credentials called nothing


@pytest.mark.parametrize(
    ("answer", "expected", "category", "code", "says"),
    [
        ("over_query_limit", errors.RateLimitedError, OutcomeCategory.RATE_LIMITED, 429,
         "rate-limit"),
        ("request_denied", errors.AuthError, OutcomeCategory.AUTH, 401, "API key is invalid"),
        ("over_daily_limit", errors.PermanentError, OutcomeCategory.PERMANENT, 403, "billing"),
        ("invalid_request", errors.InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400,
         "Invalid 'address'"),
        ("unknown_error", errors.TransientError, OutcomeCategory.TRANSIENT, 503, "UNKNOWN_ERROR"),
        # A status this code does not know, in a 200: not something a retry fixes.
        ({"results": [], "status": "MAX_ROUTE_LENGTH_EXCEEDED"}, errors.PermanentError,
         OutcomeCategory.PERMANENT, 502, "MAX_ROUTE_LENGTH_EXCEEDED"),
    ],
)  # fmt: skip
async def test_an_error_status_inside_http_200_is_a_typed_error(
    run: Run,
    fake: FakeGoogleMaps,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    answer: str | dict[str, Any],
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    code: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger=logger.logger.name)
    if isinstance(answer, str):
        fake.inject(answer)  # type: ignore[arg-type]
    else:
        fake.fail_next(200, body=answer)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(RED_SQUARE)
    error = caught.value
    outcome = classify(error)
    assert (type(error), error.code, outcome.category) == (expected, code, category)
    assert outcome.retry_after_s is None  # Google gives no wait hint: the processor backs off
    assert says in error.message  # Google's status and error_message are passed on
    assert all(call.status == 200 for call in fake.calls)  # as the real service reports them
    assert "Google Maps request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text


async def test_a_rejected_credential_is_auth_with_the_providers_reason(
    run: Run,
    fake: FakeGoogleMaps,
    logger: BotLogger,
    make_resolver: Resolver,
) -> None:
    wrong = "AIzaSyWRONG-key-never-to-be-logged-000"
    with pytest.raises(errors.AuthError) as caught:
        await run(RED_SQUARE, credentials=make_resolver({"api_key": wrong}))
    assert fake.calls[0].params["key"] == wrong
    assert "The provided API key is invalid." in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert outcome.category is OutcomeCategory.AUTH
    assert wrong not in repr(outcome)


def test_metadata_keeps_to_googles_per_minute_quota() -> None:
    meta = GoogleMapsGeocodeIntegration().metadata
    assert (meta.category.value, meta.side_effect.value) == ("maps", "none")  # a lookup
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 3000, 60.0)
    ]
