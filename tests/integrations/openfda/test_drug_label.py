"""openfda_drug_label against the fake openFDA over a real loopback socket."""

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
)
from integrations.openfda.drug_label import METADATA, OpenFdaDrugLabelIntegration
from integrations.openfda.testing import FakeOpenFda
from integrations.outcome import OutcomeCategory, classify


async def lookup(
    action: OpenFdaDrugLabelIntegration,
    config: dict[str, Any],
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, resolver, bot_id, logger)


async def test_a_brand_name_finds_its_label_with_the_key(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    resolver: Any,
    bot_id: str,
    api_key: str,
    logger: BotLogger,
) -> None:
    returned = await lookup(action, {"name": "advil"}, resolver, bot_id, logger)
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    result = returned["response"]["result"]
    assert (result["total"], result["skip"]) == (1, 0)
    [label] = result["labels"]
    assert label["brand_name"] == ["Advil"]
    assert label["generic_name"] == ["IBUPROFEN"]
    assert label["route"] == ["ORAL"]
    assert label["id"] == fake.labels[0]["id"]
    sections = label["sections"]
    assert set(sections) == {"indications_and_usage", "dosage_and_administration", "warnings"}
    assert (
        sections["dosage_and_administration"]
        == "Directions do not take more than directed\nadults: 1"
    )
    assert len(sections["warnings"]) == 1000  # cut to max_section_chars
    assert sections["warnings"].endswith("…")
    [call] = fake.calls
    assert call.params == {"search": 'openfda.brand_name:"advil"', "limit": "3", "api_key": api_key}
    assert resolver.calls == [(bot_id, "openfda", "api_key")]
    assert api_key not in repr(returned)


async def test_without_credentials_the_call_is_anonymous(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    anonymous_bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    returned = await lookup(action, {"name": "Advil"}, make_resolver({}), anonymous_bot_id, logger)
    assert returned["response"]["ok"] is True  # not "Credentials not found": openFDA is public
    assert "api_key" not in fake.calls[0].params


async def test_search_by_generic_name_with_paging_and_chosen_sections(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    config = {
        "name": "ibuprofen",
        "search_by": "generic_name",
        "limit": 1,
        "skip": 1,
        "sections": ["purpose"],
        "max_section_chars": 100,
    }
    result = (await lookup(action, config, resolver, bot_id, logger))["response"]["result"]
    assert (result["total"], result["skip"]) == (2, 1)
    [label] = result["labels"]
    assert label["brand_name"] == ["Motrin IB"]
    assert label["sections"] == {}  # this label has no purpose section
    params = fake.calls[0].params
    assert (params["search"], params["limit"], params["skip"]) == (
        'openfda.generic_name:"ibuprofen"',
        "1",
        "1",
    )


async def test_no_matches_is_a_success_with_no_labels(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    returned = await lookup(action, {"name": "Nonexistium"}, resolver, bot_id, logger)
    assert returned["response"] == {"ok": True, "result": {"total": 0, "skip": 0, "labels": []}}
    assert fake.calls[0].status == 404  # openFDA's "No matches found!"


@pytest.mark.parametrize(
    ("kind", "expected", "category", "code"),
    [
        ("rate_limit", RateLimitedError, OutcomeCategory.RATE_LIMITED, 429),
        ("api_key_invalid", AuthError, OutcomeCategory.AUTH, 403),
        ("bad_request", InvalidConfigError, OutcomeCategory.INVALID_CONFIG, 400),
    ],
)
async def test_openfda_errors_become_typed_errors(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
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
    caplog.set_level(logging.DEBUG, logger="tests.openfda")
    fake.inject(kind)  # type: ignore[arg-type]
    with pytest.raises(IntegrationError) as caught:
        await lookup(action, {"name": "Advil"}, resolver, bot_id, logger)
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    outcome = classify(error)
    assert outcome.category is category
    if kind == "rate_limit":
        assert "OVER_RATE_LIMIT" in error.message
        assert outcome.retry_after_s is None  # openFDA sends no hint: the processor backs off
    assert "openFDA request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text
    returned = await lookup(action, {"name": "Advil"}, resolver, bot_id, logger)
    assert returned["response"]["ok"] is True  # one-shot fault: the next call works


async def test_a_403_that_is_not_about_the_key_is_permanent(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    resolver: Any,
    bot_id: str,
    logger: BotLogger,
) -> None:
    # api.data.gov's key errors are 403 API_KEY_*; a 403 without one (a proxy, a WAF) is not
    # something new credentials fix.
    fake.fail_next(403, body=b"<html>Forbidden</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(PermanentError) as caught:
        await lookup(action, {"name": "Advil"}, resolver, bot_id, logger)
    assert caught.value.code == 403
    assert classify(caught.value).category is OutcomeCategory.PERMANENT


async def test_a_rejected_key_never_reaches_messages_or_logs(
    fake: FakeOpenFda,
    action: OpenFdaDrugLabelIntegration,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs the URL, ?api_key=... included
    caplog.handler.addFilter(SecretRedactingFilter())
    wrong = "fdaWRONGkey-never-to-be-logged-0000000000"
    resolver = make_resolver({bot_id: {"api_key": wrong}})
    with pytest.raises(AuthError) as caught:
        await lookup(action, {"name": "Advil"}, resolver, bot_id, logger)
    assert fake.calls[0].params["api_key"] == wrong
    assert "API_KEY_INVALID" in caught.value.message
    outcome = classify(caught.value, secrets=logger.secrets)
    assert wrong not in repr(outcome)
    assert wrong not in caplog.text


async def test_credentials_without_a_key_are_an_auth_error(
    action: OpenFdaDrugLabelIntegration,
    fake: FakeOpenFda,
    bot_id: str,
    logger: BotLogger,
    make_resolver: Any,
) -> None:
    with pytest.raises(AuthError, match="no 'api_key'"):
        await action.execute({"name": "Advil"}, make_resolver({bot_id: {"x": "y"}}), bot_id, logger)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 'Advil" OR openfda.route:"ORAL'}, "name"),
        ({"name": "a\\b"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "x", "search_by": "route"}, "search_by"),
        ({"name": "x", "limit": 11}, "limit"),
        ({"name": "x", "skip": 25001}, "skip"),
        ({"name": "x", "sections": []}, "sections"),
        ({"name": "x", "sections": ["spl_unclassified_section"]}, "sections[0]"),
        ({"name": "x", "max_section_chars": 50}, "max_section_chars"),
        ({"name": "x", "api_key": "k"}, "api_key"),
    ],
)
def test_config_schema_rejects_before_any_call(config: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        METADATA.validate_config(config)
    assert path in caught.value.message


def test_metadata_values() -> None:
    meta = OpenFdaDrugLabelIntegration().metadata
    assert (meta.id, meta.version, meta.category.value) == (
        "openfda_drug_label",
        "1.0.0",
        "medicine",
    )
    assert meta.icon_s3_key == "icons/integrations/openfda.svg"
    assert (meta.credentials_provider, meta.credentials_strategy.value) == ("openfda", "api_key")
    assert (meta.library_name, meta.side_effect.value) == ("httpx", "none")
    assert {(r.limit, r.period_s) for r in meta.rate_limits} == {(240, 60.0), (120_000, 86_400.0)}
