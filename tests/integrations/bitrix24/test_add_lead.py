"""bitrix24_add_lead against the fake portal over a real loopback socket."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from integrations import errors
from integrations.base import RateLimit, SideEffect, UnknownOutcomePolicy
from integrations.bitrix24.add_lead import METADATA
from integrations.bitrix24.client import QUERY_LIMIT_BACKOFF_S
from integrations.bitrix24.testing import FakeBitrix24
from integrations.bot_logger import BotLogger
from integrations.outcome import classify
from support.integrations import Run

LEAD = {"title": "Lead from the bot", "name": "Глеб", "phone": "+7 900 123-45-67"}


async def test_adds_a_lead_through_the_webhook(
    run: Run, fake: FakeBitrix24, resolver: Any, bot_id: str, secret: str
) -> None:
    config = {
        **LEAD,
        "last_name": "Титов",
        "email": ["a@example.com", {"value": "b@example.com", "value_type": "HOME"}],
        "comments": "wants a call back",
        "source_id": "WEB",
        "assigned_by_id": 7,
        "opportunity": 12500.5,
        "currency_id": "RUB",
        "opened": False,
        "utm_source": "telegram",
        "custom_fields": {"UF_CRM_1700000000": "vip", "UF_CRM_TAGS": ["a", "b"]},
    }
    returned = await run(config, key="req-42")
    [call] = fake.calls
    assert (call.user_id, call.secret, call.method) == ("1", secret, "crm.lead.add")
    assert (call.http_method, call.content_type) == ("POST", "application/json")
    assert call.params == {
        "fields": {
            "TITLE": "Lead from the bot",
            "NAME": "Глеб",
            "LAST_NAME": "Титов",
            "PHONE": [{"VALUE": "+7 900 123-45-67", "VALUE_TYPE": "WORK"}],
            "EMAIL": [
                {"VALUE": "a@example.com", "VALUE_TYPE": "WORK"},
                {"VALUE": "b@example.com", "VALUE_TYPE": "HOME"},
            ],
            "COMMENTS": "wants a call back",
            "SOURCE_ID": "WEB",
            "ASSIGNED_BY_ID": 7,
            "OPPORTUNITY": 12500.5,
            "CURRENCY_ID": "RUB",
            "OPENED": "N",
            "UTM_SOURCE": "telegram",
            "UF_CRM_1700000000": "vip",
            "UF_CRM_TAGS": ["a", "b"],
            "ORIGINATOR_ID": "actionstream",
            "ORIGIN_ID": "req-42",
        },
        "params": {"REGISTER_SONET_EVENT": "Y"},
    }
    assert resolver.calls == [(bot_id, "bitrix24", "api_key")]
    assert returned == {"response": {"ok": True, "result": {"lead_id": 1, "deduplicated": False}}}
    assert fake.leads[1]["TITLE"] == "Lead from the bot"


@pytest.mark.parametrize(
    "shape", ["{base}", "{base}crm.lead.add.json", "{base}crm.lead.add", "{bare}", "{base}?x=1"]
)
async def test_webhook_url_forms_all_reach_the_method(
    run: Run, fake: FakeBitrix24, make_resolver: Any, credentials: dict[str, str], shape: str
) -> None:
    base = credentials["webhook_url"]
    url = shape.format(base=base, bare=base.rstrip("/"))
    await run(LEAD, credentials=make_resolver({"webhook_url": url}))
    assert [c.method for c in fake.calls] == ["crm.lead.add"]
    assert fake.calls[0].status == 200


async def test_a_retry_finds_the_lead_an_earlier_attempt_added(
    run: Run, fake: FakeBitrix24
) -> None:
    fake.inject("server_error", method="crm.lead.add")  # added, but the answer is a 500
    with pytest.raises(errors.TransientError) as caught:
        await run(LEAD, key="req-7")
    assert caught.value.maybe_executed
    assert list(fake.leads) == [1]
    returned = await run(LEAD, key="req-7", attempt=2)
    assert returned["response"]["result"] == {"lead_id": 1, "deduplicated": True}
    assert [c.method for c in fake.calls] == ["crm.lead.add", "crm.lead.list"]
    assert fake.calls[1].params["filter"] == {"ORIGINATOR_ID": "actionstream", "ORIGIN_ID": "req-7"}
    assert len(fake.leads) == 1


async def test_a_retry_adds_when_the_first_attempt_did_not(run: Run, fake: FakeBitrix24) -> None:
    await run(LEAD, key="other-request")
    fake.inject("server_error", method="crm.lead.add", deliver=False)
    with pytest.raises(errors.TransientError):
        await run(LEAD, key="req-8")
    returned = await run(LEAD, key="req-8", attempt=2)
    assert returned["response"]["result"] == {"lead_id": 2, "deduplicated": False}
    assert [c.method for c in fake.calls] == [
        "crm.lead.add",
        "crm.lead.add",
        "crm.lead.list",
        "crm.lead.add",
    ]


async def test_first_attempts_never_look_up(run: Run, fake: FakeBitrix24) -> None:
    await run(LEAD, key="a")
    await run(LEAD, key="a")  # a redelivered first attempt: a duplicate, as declared
    assert [c.method for c in fake.calls] == ["crm.lead.add", "crm.lead.add"]


async def test_the_portals_leaky_bucket_answers_503(run: Run, make_resolver: Any) -> None:
    async with FakeBitrix24(query_limit=(2, 0.0)) as portal:
        own = make_resolver({"webhook_url": portal.webhook_url()})
        for _ in range(2):
            await run(LEAD, credentials=own)
        with pytest.raises(errors.RateLimitedError):
            await run(LEAD, credentials=own)
        assert [c.status for c in portal.calls] == [200, 200, 503]


@pytest.mark.parametrize(
    ("kind", "expected", "code"),
    [
        ("query_limit", errors.RateLimitedError, 429),  # a 503 that means "slow down"
        ("overload", errors.PermanentError, 503),
        ("expired_token", errors.AuthError, 401),
        ("invalid_credentials", errors.AuthError, 403),
        ("insufficient_scope", errors.AuthError, 403),
        ("bad_request", errors.InvalidConfigError, 400),
    ],
)
async def test_injected_errors_become_typed_errors(
    run: Run,
    fake: FakeBitrix24,
    logger: BotLogger,
    secret: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[errors.IntegrationError],
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(kind, deliver=False)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await run(LEAD)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    if isinstance(error, errors.RateLimitedError):  # no Retry-After: the bucket drains 2/s
        assert error.retry_after_s == QUERY_LIMIT_BACKOFF_S
    outcome = classify(error, secrets=logger.secrets)
    assert error.message.startswith("Bitrix24 crm.lead.add on 127.0.0.1: HTTP ")  # not the URL
    assert "Bitrix24 request failed" in caplog.text
    for text in (error.message, repr(outcome), caplog.text):
        assert secret not in text


@pytest.mark.parametrize(
    ("body", "expected", "code"),
    [
        ({"error": "NO_AUTH_FOUND", "error_description": "Wrong auth"}, errors.AuthError, 401),
        (
            {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"},
            errors.RateLimitedError,
            429,
        ),
        ({"error": "ERROR_CORE", "error_description": "Refused"}, errors.PermanentError, 400),
        (
            {"time": {"start": 1}},
            errors.TransientError,
            502,
        ),  # neither result nor error: not Bitrix24's
    ],
)
async def test_an_error_body_with_http_200_is_still_an_error(
    run: Run,
    fake: FakeBitrix24,
    body: dict[str, Any],
    expected: type[errors.IntegrationError],
    code: int,
) -> None:
    fake.fail_next(200, body=body, headers={"Content-Type": "application/json"})
    with pytest.raises(errors.IntegrationError) as caught:
        await run(LEAD)
    assert type(caught.value) is expected
    assert caught.value.code == code
    assert caught.value.message.startswith("Bitrix24 crm.lead.add on 127.0.0.1: HTTP 200")
    assert fake.leads == {}


async def test_the_webhook_secret_never_reaches_logs_or_errors(
    run: Run,
    make_resolver: Any,
    credentials: dict[str, str],
    secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    await run(LEAD)
    wrong = credentials["webhook_url"].replace(secret, "WrongSecret123")
    with pytest.raises(errors.AuthError) as caught:
        await run(LEAD, credentials=make_resolver({"webhook_url": wrong}))
    assert caught.value.code == 401
    assert "HTTP Request: POST" in caplog.text and "/rest/1/***/crm.lead.add.json" in caplog.text
    for text in (caplog.text, caught.value.message):
        assert secret not in text
        assert "WrongSecret123" not in text


async def test_malformed_credentials_never_echo_the_secret(
    run: Run, fake: FakeBitrix24, make_resolver: Any
) -> None:
    for bad in (
        {"token": "x"},
        {"webhook_url": "ftp://p/rest/1/s3cr3tvalue/"},
        {"webhook_url": "https://p.example/api/s3cr3tvalue"},
    ):
        with pytest.raises(errors.AuthError) as caught:
            await run(LEAD, credentials=make_resolver(bad))
        assert "s3cr3tvalue" not in caught.value.message
    assert fake.calls == []


def test_metadata_declares_a_resend_a_second_lead_and_the_portals_bucket() -> None:
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert not METADATA.supports_idempotency_key
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE
    assert METADATA.rate_limits == (RateLimit(scope="credential", limit=50, period_s=25.0),)
