"""hubspot_create_contact and HubSpot's token endpoint against the fake over a real socket."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.base import (
    CredentialsStrategy,
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.credentials.oauth import token_endpoint
from integrations.hubspot.client import HUBSPOT_TOKEN, ContactExists, rate_limit_wait_s
from integrations.hubspot.create_contact import METADATA, HubSpotCreateContactIntegration
from integrations.hubspot.testing import TOKEN_PATH, FakeHubSpot
from support.integrations import Run, http_clients

CONTACT = {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}


async def test_creates_a_contact_with_the_bearer_token(
    run: Run, fake: FakeHubSpot, resolver: Any, bot_id: str, api_key: str
) -> None:
    config = {
        **CONTACT,
        "phone": "+44 20 7946 0958",
        "lifecyclestage": "lead",
        "custom_properties": {"favorite_color": "blue", "newsletter": True},
    }
    returned = await run(config)
    [call] = fake.calls
    assert call.headers["Authorization"] == f"Bearer {api_key}"
    assert call.body == {
        "properties": {
            "email": "ada@example.com",
            "firstname": "Ada",
            "lastname": "Lovelace",
            "phone": "+44 20 7946 0958",
            "lifecyclestage": "lead",
            "favorite_color": "blue",
            "newsletter": "true",
        }
    }
    assert resolver.calls == [(bot_id, "hubspot", "oauth")]
    assert returned == {"response": {"ok": True, "result": {"contact_id": "101", "created": True}}}
    assert fake.contacts["101"]["properties"]["hs_object_id"] == "101"


async def test_an_existing_email_reports_that_contact_and_creates_nothing(
    run: Run, fake: FakeHubSpot
) -> None:
    await run(CONTACT)
    returned = await run({**CONTACT, "email": "ADA@example.com", "firstname": "Other"})
    assert returned["response"]["result"] == {"contact_id": "101", "created": False}
    assert [c.status for c in fake.calls] == [201, 409]
    assert list(fake.contacts) == ["101"]
    assert fake.contacts["101"]["properties"]["firstname"] == "Ada"  # never updated


async def test_a_retry_after_a_lost_answer_finds_the_contact(run: Run, fake: FakeHubSpot) -> None:
    fake.inject("server_error")  # created, but the answer is a 500
    with pytest.raises(errors.TransientError) as caught:
        await run(CONTACT, key="req-1")
    assert caught.value.maybe_executed
    returned = await run(CONTACT, key="req-1", attempt=2)
    assert returned["response"]["result"] == {"contact_id": "101", "created": False}
    assert len(fake.contacts) == 1


async def test_a_conflict_without_an_existing_id_is_permanent(run: Run, fake: FakeHubSpot) -> None:
    body = {
        "status": "error",
        "message": "Conflict",
        "correlationId": "c-1",
        "category": "CONFLICT",
    }
    fake.fail_next(409, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(errors.PermanentError) as caught:
        await run(CONTACT)
    assert not isinstance(caught.value, ContactExists)
    assert caught.value.code == 409


async def test_an_unknown_property_is_an_invalid_config_naming_it(run: Run) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run({**CONTACT, "custom_properties": {"favourite_colour": "blue"}})
    assert "favourite_colour" in caught.value.message
    assert "PROPERTY_DOESNT_EXIST" in caught.value.message
    assert caught.value.parameters["category"] == "VALIDATION_ERROR"


async def test_missing_scopes_is_auth_naming_the_scope(run: Run, fake: FakeHubSpot) -> None:
    fake.inject("missing_scopes")
    with pytest.raises(errors.AuthError) as caught:
        await run(CONTACT)
    assert caught.value.code == 403
    assert "crm.objects.contacts.write" in caught.value.message
    assert caught.value.parameters["required_scopes"] == ["crm.objects.contacts.write"]


@pytest.mark.parametrize(
    ("retry_after", "expected_s"), [(None, 10.0), (3, 3.0)], ids=["window", "retry-after"]
)
async def test_a_429_waits_retry_after_or_the_window(
    run: Run, fake: FakeHubSpot, retry_after: float | None, expected_s: float
) -> None:
    fake.inject("rate_limit", retry_after=retry_after)
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(CONTACT)
    assert caught.value.retry_after_s == pytest.approx(expected_s)
    assert caught.value.parameters["category"] == "RATE_LIMITS"


async def test_the_rolling_window_refuses_past_its_max(
    make_resolver: Any, logger: BotLogger
) -> None:
    async with (
        FakeHubSpot(tokens=("t",), rate_limit=(2, 4.0)) as hub,
        http_clients("hubspot", base_url=hub.base_url, timeout_s=5.0) as clients,
    ):
        action = HubSpotCreateContactIntegration(clients)
        resolver = make_resolver({"access_token": "t"})
        for n in range(2):
            await action.execute({"email": f"u{n}@example.com"}, resolver, "bot", logger)
        with pytest.raises(errors.RateLimitedError) as caught:
            await action.execute({"email": "u9@example.com"}, resolver, "bot", logger)
    assert caught.value.retry_after_s == pytest.approx(4.0)
    assert [c.status for c in hub.calls] == [201, 201, 429]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, 10.0),
        (
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Remaining": "5",  # another limit: no window hint
            },
            None,
        ),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "soon"}, None),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "-1"}, None),
        ({}, None),
    ],
)
def test_rate_limit_wait(headers: dict[str, str], expected: float | None) -> None:
    assert rate_limit_wait_s(httpx.Headers(headers)) == expected


async def test_an_expired_token_is_auth_and_never_logged(
    make_resolver: Any, logger: BotLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = [1000.0]
    async with FakeHubSpot(clock=lambda: now[0]) as hub:
        hub.grant("cid", "csecret", access_token="live-token-1", expires_in=60)
        async with http_clients("hubspot", base_url=hub.base_url, timeout_s=5.0) as clients:
            action = HubSpotCreateContactIntegration(clients)
            resolver = make_resolver({"access_token": "live-token-1"})
            await action.execute(CONTACT, resolver, "bot", logger)
            now[0] += 61
            with pytest.raises(errors.AuthError) as expired:
                await action.execute({"email": "b@example.com"}, resolver, "bot", logger)
            other = make_resolver({"access_token": "never-issued"})
            with pytest.raises(errors.AuthError) as unknown:
                await action.execute({"email": "c@example.com"}, other, "bot", logger)
    assert "EXPIRED_AUTHENTICATION" in expired.value.message
    assert "INVALID_AUTHENTICATION" in unknown.value.message
    for text in (expired.value.message, unknown.value.message, caplog.text):
        assert "live-token-1" not in text and "never-issued" not in text


def test_the_metadata_declares_the_dedupe_and_the_limit() -> None:
    assert METADATA.side_effect is SideEffect.IDEMPOTENT
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE
    assert METADATA.credentials_strategy is CredentialsStrategy.OAUTH
    assert METADATA.config_schema["required"] == ["email"]
    assert METADATA.rate_limits == (
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=110, period_s=10.0),
    )


def test_the_token_endpoint_is_declared() -> None:
    assert token_endpoint("hubspot") == HUBSPOT_TOKEN
    assert HUBSPOT_TOKEN.url == "https://api.hubapi.com/oauth/v1/token"
    assert (HUBSPOT_TOKEN.body, HUBSPOT_TOKEN.client_auth) == ("form", "body")
    assert not HUBSPOT_TOKEN.rotates_refresh_token
    assert "BAD_REFRESH_TOKEN" in HUBSPOT_TOKEN.reauthorise


# -- the fake's token endpoint ---------------------------------------------------------------


SECRET = "csecret"


def _refresh(refresh_token: str, client_secret: str = SECRET) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }


async def test_the_fake_token_endpoint_refreshes_without_rotating() -> None:
    async with FakeHubSpot(token_lifetime_s=1800) as hub, httpx.AsyncClient() as http:
        hub.grant("cid", "csecret", refresh_token="r0")
        url = hub.url + TOKEN_PATH
        first = (await http.post(url, data=_refresh("r0"))).json()
        second = (await http.post(url, data=_refresh("r0"))).json()
        assert first["refresh_token"] == second["refresh_token"] == "r0"
        assert (first["expires_in"], first["token_type"]) == (1800, "bearer")
        assert first["access_token"] != second["access_token"]
        assert hub.refreshes == 2
        created = await http.post(
            hub.url + "/crm/v3/objects/contacts",
            json={"properties": {"email": "x@example.com"}},
            headers={"Authorization": f"Bearer {second['access_token']}"},
        )
        assert created.status_code == 201


async def test_the_fake_token_endpoint_refuses_in_hubspots_shape() -> None:
    async with FakeHubSpot() as hub, httpx.AsyncClient() as http:
        hub.grant("cid", "csecret", refresh_token="r0")
        url = hub.url + TOKEN_PATH
        bad_client = await http.post(url, data=_refresh("r0", client_secret="wrong"))
        unknown = await http.post(url, data=_refresh("r-unknown"))
        hub.revoke()
        revoked = await http.post(url, data=_refresh("r0"))
    assert bad_client.status_code == 400 and bad_client.json()["status"] == "BAD_CLIENT_ID"
    for answer in (unknown, revoked):
        assert answer.status_code == 400
        body = answer.json()
        assert body["status"] == "BAD_REFRESH_TOKEN"
        assert body["message"] == "missing or invalid refresh token"
    assert hub.refreshes == 0
