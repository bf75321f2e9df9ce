"""amocrm_create_lead and AmoCRM's token endpoint against the fake account over a real socket."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.amocrm.client import AMOCRM_TOKEN, account_url
from integrations.amocrm.create_lead import METADATA, AmoCRMCreateLeadIntegration
from integrations.amocrm.testing import REDIRECT_URI, TOKEN_PATH, FakeAmoCRM
from integrations.base import (
    CredentialsStrategy,
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.credentials.oauth import token_endpoint
from integrations.egress import EgressRefusedError
from integrations.http import HttpClients
from support.integrations import Run, http_clients

LEAD = {"name": "Order from the bot"}


async def test_adds_a_lead_with_the_bearer_token(
    run: Run, fake: FakeAmoCRM, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run(LEAD)
    [call] = fake.calls
    assert call.headers["Authorization"] == f"Bearer {api_key}"
    assert call.body == [{"name": "Order from the bot"}]
    assert resolver.calls == [(bot_id, "amocrm", "oauth")]
    assert returned == {"response": {"ok": True, "result": {"lead_id": 30001}}}
    assert fake.leads[30001]["pipeline_id"] == 7001  # the main pipeline


async def test_sends_every_field_in_amocrms_shape(run: Run, fake: FakeAmoCRM) -> None:
    config = {
        **LEAD,
        "price": 12500,
        "pipeline_id": 7001,
        "status_id": 70011,
        "responsible_user_id": 42,
        "tags": ["telegram", "vip"],
        "custom_fields_values": [
            {"field_id": 501, "values": [{"value": "web"}]},
            {"field_id": 502, "values": [{"enum_id": 9}, {"value": 3}]},
        ],
    }
    await run(config)
    assert fake.calls[0].body == [
        {
            "name": "Order from the bot",
            "price": 12500,
            "pipeline_id": 7001,
            "status_id": 70011,
            "responsible_user_id": 42,
            "custom_fields_values": config["custom_fields_values"],
            "_embedded": {"tags": [{"name": "telegram"}, {"name": "vip"}]},
        }
    ]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({**LEAD, "custom_fields_values": [{"field_id": 999, "values": [{"value": "x"}]}]},
         "custom_fields_values.0.field_id"),
        ({**LEAD, "pipeline_id": 1234}, "pipeline_id"),
        ({**LEAD, "status_id": 1}, "status_id"),
    ],
)  # fmt: skip
async def test_validation_errors_are_invalid_config_naming_the_field(
    run: Run, config: dict[str, Any], path: str
) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run(config)
    assert path in caught.value.message
    assert "NotSupportedChoice" in caught.value.message
    assert caught.value.parameters["fields"][0]["path"] == path


@pytest.mark.parametrize(
    ("kind", "expected", "code", "words"),
    [
        ("payment_required", errors.PermanentError, 402, "not paid"),
        ("account_blocked", errors.PermanentError, 403, "blocked"),
        ("rate_limit", errors.RateLimitedError, 429, "Too Many Requests"),
    ],
)
async def test_amocrms_own_refusals(
    run: Run, fake: FakeAmoCRM, kind: Any, expected: type[Exception], code: int, words: str
) -> None:
    fake.inject(kind)
    with pytest.raises(expected) as caught:
        await run(LEAD)
    error = caught.value
    assert isinstance(error, errors.IntegrationError)
    assert words in error.message
    assert not error.maybe_executed
    if isinstance(error, errors.RateLimitedError):
        assert error.retry_after_s == pytest.approx(1.0)  # no Retry-After: a second
    else:
        assert error.code == code


async def test_the_per_second_window_answers_429(make_resolver: Any, logger: BotLogger) -> None:
    async with FakeAmoCRM(tokens=("t",), rate_limit=(7, 5.0)) as account:
        resolver = make_resolver({"access_token": "t", "base_url": account.url})
        async with http_clients("amocrm", timeout_s=5.0) as clients:
            action = AmoCRMCreateLeadIntegration(clients)
            for _ in range(7):
                await action.execute(LEAD, resolver, "bot", logger)
            with pytest.raises(errors.RateLimitedError):
                await action.execute(LEAD, resolver, "bot", logger)
    assert [c.status for c in account.calls] == [200] * 7 + [429]


async def test_a_retry_after_a_lost_answer_adds_again_as_declared(
    run: Run, fake: FakeAmoCRM
) -> None:
    fake.inject("server_error")  # added, but the answer is a 500
    with pytest.raises(errors.TransientError) as caught:
        await run(LEAD, key="req-1")
    assert caught.value.maybe_executed
    await run(LEAD, key="req-1", attempt=2)
    assert len(fake.leads) == 2  # NON_IDEMPOTENT + REEXECUTE: a duplicate beats a lost lead


async def test_an_expired_token_is_auth_and_never_logged(
    make_resolver: Any, logger: BotLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = [1000.0]
    async with FakeAmoCRM(clock=lambda: now[0]) as account:
        account.grant("cid", "csecret", access_token="amo-access-1", expires_in=60)
        resolver = make_resolver({"access_token": "amo-access-1", "base_url": account.url})
        async with http_clients("amocrm", timeout_s=5.0) as clients:
            action = AmoCRMCreateLeadIntegration(clients)
            await action.execute(LEAD, resolver, "bot", logger)
            now[0] += 61
            with pytest.raises(errors.AuthError) as caught:
                await action.execute(LEAD, resolver, "bot", logger)
    assert caught.value.code == 401
    assert "amo-access-1" not in caught.value.message
    assert "amo-access-1" not in caplog.text


async def test_the_account_url_goes_through_the_egress_policy(
    make_resolver: Any, logger: BotLogger, fake: FakeAmoCRM, api_key: str
) -> None:
    clients = HttpClients()  # production egress: loopback is not allowed
    try:
        action = AmoCRMCreateLeadIntegration(clients)
        resolver = make_resolver({"access_token": api_key, "base_url": fake.url})
        with pytest.raises(EgressRefusedError):
            await action.execute(LEAD, resolver, "bot", logger)
    finally:
        await clients.aclose()
    assert fake.requests == []


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"subdomain": "example"}, "https://example.amocrm.ru"),
        ({"base_url": "https://example.amocrm.ru"}, "https://example.amocrm.ru"),
        ({"base_url": "https://Shop-1.amocrm.com/"}, "https://shop-1.amocrm.com"),
        ({"base_url": "https://example.kommo.com"}, "https://example.kommo.com"),
        ({"base_url": "http://127.0.0.1:8123"}, "http://127.0.0.1:8123"),
    ],
)
def test_account_urls_accepted(credentials: dict[str, str], expected: str) -> None:
    assert account_url(credentials) == expected


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"subdomain": "../admin"},
        {"subdomain": "a.b"},
        {"base_url": "http://example.amocrm.ru"},
        {"base_url": "https://evil.example"},
        {"base_url": "https://example.amocrm.ru.evil.example"},
        {"base_url": "https://a.b.amocrm.ru"},
        {"base_url": "https://example.amocrm.ru:8443"},
        {"base_url": "https://user:pw@example.amocrm.ru"},
        {"base_url": "https://example.amocrm.ru/api/v4"},
        {"base_url": "https://example.amocrm.ru?x=1"},
        {"base_url": "http://127.0.0.1"},
        {"base_url": "http://169.254.169.254:80"},
        {"base_url": "https://[::1]:99"},
        {"base_url": "https://example.amocrm.ru" + "/" * 300},
        {"base_url": 7},
    ],
)
def test_account_urls_refused(credentials: dict[str, Any]) -> None:
    with pytest.raises(errors.AuthError) as caught:
        account_url(credentials)
    assert "base_url" in caught.value.message or "subdomain" in caught.value.message


async def test_credentials_without_a_token_are_auth_naming_it(
    run: Run, make_resolver: Any, fake: FakeAmoCRM
) -> None:
    with pytest.raises(errors.AuthError) as caught:
        await run(LEAD, credentials=make_resolver({"base_url": fake.url}))
    assert "access_token" in caught.value.message
    assert fake.requests == []


def test_the_metadata_declares_the_policy_and_the_limit() -> None:
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE
    assert METADATA.credentials_strategy is CredentialsStrategy.OAUTH
    assert METADATA.rate_limits == (
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=7, period_s=1.0),
    )


def test_the_token_endpoint_is_declared_per_account() -> None:
    assert token_endpoint("amocrm") == AMOCRM_TOKEN
    assert AMOCRM_TOKEN.body == "json"
    assert AMOCRM_TOKEN.rotates_refresh_token
    assert AMOCRM_TOKEN.carried == ("redirect_uri",)
    credentials = {"base_url": "https://example.kommo.com", "refresh_token": "r"}
    assert AMOCRM_TOKEN.url_for(credentials, "https://ignored.example/token") == (
        "https://example.kommo.com/oauth2/access_token"
    )
    with pytest.raises(errors.AuthError):
        AMOCRM_TOKEN.url_for({"base_url": "https://evil.example"})


# -- the fake's token endpoint ---------------------------------------------------------------


def _refresh(refresh_token: str, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
    return {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "redirect_uri": redirect_uri,
    }


async def test_the_fake_rotates_single_use_refresh_tokens() -> None:
    async with FakeAmoCRM() as account, httpx.AsyncClient() as http:
        account.grant("cid", "csecret", refresh_token="r0")
        url = account.url + TOKEN_PATH
        first = await http.post(url, json=_refresh("r0"))
        assert first.status_code == 200
        body = first.json()
        assert (body["token_type"], body["expires_in"]) == ("Bearer", 86400)
        assert body["refresh_token"] != "r0"
        assert account.current_refresh_token("cid") == body["refresh_token"]
        reused = await http.post(url, json=_refresh("r0"))
        assert reused.status_code == 401
        assert reused.json()["hint"] == "Token has been revoked"
        assert "error" not in reused.json()  # amoCRM answers without OAuth's error field
        assert account.reused == 1
        second = await http.post(url, json=_refresh(body["refresh_token"]))
        assert second.status_code == 200
        assert account.refreshes == 2
        added = await http.post(
            account.url + "/api/v4/leads",
            json=[{"name": "x"}],
            headers={"Authorization": f"Bearer {second.json()['access_token']}"},
        )
        assert added.status_code == 200


async def test_the_fake_refuses_in_amocrms_shape() -> None:
    async with FakeAmoCRM() as account, httpx.AsyncClient() as http:
        account.grant("cid", "csecret", refresh_token="r0")
        url = account.url + TOKEN_PATH
        wrong_redirect = await http.post(url, json=_refresh("r0", "https://other.example/cb"))
        wrong_client = await http.post(url, json={**_refresh("r0"), "client_secret": "nope"})
        account.revoke()
        revoked = await http.post(url, json=_refresh("r0"))
    assert wrong_redirect.status_code == 400
    assert "redirect_uri" in wrong_redirect.json()["hint"]
    assert wrong_client.status_code == 401
    assert wrong_client.json()["title"] == "Некорректный клиент"
    assert revoked.status_code == 401
    assert revoked.json()["hint"] == "Token has been revoked"
    assert account.refreshes == 0
