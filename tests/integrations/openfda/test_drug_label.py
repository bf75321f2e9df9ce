"""openfda_drug_label against the fake openFDA over a real loopback socket.

Only what is openFDA's own: the cases every integration shares are in ``../test_contract.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.openfda.drug_label import OpenFdaDrugLabelIntegration
from integrations.openfda.testing import FakeOpenFda
from integrations.outcome import OutcomeCategory, classify
from support.integrations import Run

Resolver = Callable[[dict[str, Any] | None], Any]
ADVIL = {"name": "Advil"}


async def test_a_brand_name_finds_its_label_with_the_key(
    run: Run, fake: FakeOpenFda, resolver: Any, bot_id: str, api_key: str
) -> None:
    returned = await run({"name": "advil"})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    result = returned["response"]["result"]
    assert (result["total"], result["skip"]) == (1, 0)
    [label] = result["labels"]
    assert (label["id"], label["brand_name"]) == (fake.labels[0]["id"], ["Advil"])
    assert (label["generic_name"], label["route"]) == (["IBUPROFEN"], ["ORAL"])
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


async def test_the_key_is_optional_may_be_stored_as_key_but_not_malformed(
    run: Run, fake: FakeOpenFda, api_key: str, make_resolver: Resolver
) -> None:
    anonymous = await run(ADVIL, credentials=make_resolver(None))
    assert anonymous["response"]["ok"] is True  # not "Credentials not found": openFDA is public
    keyed = await run(ADVIL, credentials=make_resolver({"key": api_key}))
    assert keyed["response"]["ok"] is True
    assert [call.params.get("api_key") for call in fake.calls] == [None, api_key]
    with pytest.raises(errors.AuthError, match="no 'api_key'"):
        await run(ADVIL, credentials=make_resolver({"x": "y"}))
    assert len(fake.calls) == 2  # malformed credentials call nothing, not even anonymously


async def test_search_by_generic_name_with_paging_and_chosen_sections(
    run: Run, fake: FakeOpenFda
) -> None:
    config = {
        "name": "ibuprofen",
        "search_by": "generic_name",
        "limit": 1,
        "skip": 1,
        "sections": ["purpose"],
        "max_section_chars": 100,
    }
    result = (await run(config))["response"]["result"]
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


async def test_no_matches_is_a_success_with_no_labels(run: Run, fake: FakeOpenFda) -> None:
    returned = await run({"name": "Nonexistium"})
    assert returned["response"] == {"ok": True, "result": {"total": 0, "skip": 0, "labels": []}}
    assert fake.calls[0].status == 404  # openFDA's "No matches found!"


def _html_403(fake: FakeOpenFda) -> object:
    # api.data.gov's key errors are 403 API_KEY_*; a 403 without one (a proxy, a WAF) is not
    # something new credentials fix.
    return fake.fail_next(
        403, body=b"<html>Forbidden</html>", headers={"Content-Type": "text/html"}
    )


@pytest.mark.parametrize(
    ("arrange", "expected", "category", "code", "says"),
    [
        (lambda fake: fake.inject("rate_limit"), errors.RateLimitedError,
         OutcomeCategory.RATE_LIMITED, 429, "OVER_RATE_LIMIT"),
        (lambda fake: fake.inject("api_key_invalid"), errors.AuthError, OutcomeCategory.AUTH, 403,
         "remove it: openFDA answers without one too"),
        (lambda fake: fake.inject("bad_request"), errors.InvalidConfigError,
         OutcomeCategory.INVALID_CONFIG, 400, "HTTP 400 BAD_REQUEST: Invalid parameter: search"),
        (_html_403, errors.PermanentError, OutcomeCategory.PERMANENT, 403, "HTTP 403: no message"),
    ],
    ids=["rate-limit", "api-key-invalid", "bad-request", "403-not-about-the-key"],
)  # fmt: skip
async def test_openfda_errors_become_typed_errors(
    run: Run,
    fake: FakeOpenFda,
    api_key: str,
    logger: BotLogger,
    caplog: pytest.LogCaptureFixture,
    arrange: Callable[[FakeOpenFda], object],
    expected: type[errors.IntegrationError],
    category: OutcomeCategory,
    code: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger=logger.logger.name)
    arrange(fake)
    with pytest.raises(errors.IntegrationError) as caught:
        await run(ADVIL)
    error = caught.value
    outcome = classify(error)
    assert (type(error), error.code, outcome.category) == (expected, code, category)
    assert outcome.retry_after_s is None  # openFDA sends no hint: the processor backs off
    assert says in error.message
    assert "openFDA request failed" in caplog.text
    assert api_key not in str(error)
    assert api_key not in caplog.text


async def test_a_rejected_credential_is_auth_with_the_providers_reason(
    run: Run,
    fake: FakeOpenFda,
    logger: BotLogger,
    make_resolver: Resolver,
) -> None:
    wrong = "fdaWRONGkey-never-to-be-logged-0000000000"
    with pytest.raises(errors.AuthError) as caught:
        await run(ADVIL, credentials=make_resolver({"api_key": wrong}))
    assert fake.calls[0].params["api_key"] == wrong
    assert "API_KEY_INVALID" in caught.value.message
    assert wrong not in repr(classify(caught.value, secrets=logger.secrets))


def test_metadata_keeps_to_openfdas_keyed_limits() -> None:
    meta = OpenFdaDrugLabelIntegration().metadata
    assert (meta.category.value, meta.side_effect.value) == ("medicine", "none")
    assert {(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits} == {
        ("credential", 240, 60.0),
        ("credential", 120_000, 86_400.0),
    }
