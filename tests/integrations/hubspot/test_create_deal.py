"""hubspot_create_deal against the fake over a real socket (errors shared with contacts are
tested there)."""

from __future__ import annotations

import pytest

from integrations import errors
from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.hubspot.create_deal import METADATA
from integrations.hubspot.testing import FakeHubSpot
from support.integrations import Run

DEAL = {"dealname": "Order #1042", "amount": 1250.5}


async def test_creates_a_deal_associated_with_a_contact_and_a_company(
    run_deal: Run, fake: FakeHubSpot, api_key: str
) -> None:
    config = {
        **DEAL,
        "pipeline": "default",
        "dealstage": "appointmentscheduled",
        "closedate": "2026-12-31",
        "contact_id": "101",
        "company_id": "9001",
        "custom_properties": {"favorite_color": "green"},
    }
    returned = await run_deal(config)
    [call] = fake.calls
    assert call.path == "/crm/v3/objects/deals"
    assert call.headers["Authorization"] == f"Bearer {api_key}"
    assert call.body == {
        "properties": {
            "dealname": "Order #1042",
            "amount": 1250.5,
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "closedate": "2026-12-31",
            "favorite_color": "green",
        },
        "associations": [
            {
                "to": {"id": "101"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
            },
            {
                "to": {"id": "9001"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
            },
        ],
    }
    assert returned == {"response": {"ok": True, "result": {"deal_id": "101"}}}
    assert fake.deals["101"]["properties"]["amount"] == "1250.5"


async def test_a_repeat_is_a_second_deal_as_declared(run_deal: Run, fake: FakeHubSpot) -> None:
    await run_deal(DEAL)
    await run_deal(DEAL)
    assert len(fake.deals) == 2
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE


async def test_missing_scopes_names_the_deals_scope(run_deal: Run, fake: FakeHubSpot) -> None:
    fake.inject("missing_scopes")
    with pytest.raises(errors.AuthError) as caught:
        await run_deal(DEAL)
    assert "crm.objects.deals.write" in caught.value.message


async def test_a_contact_property_is_unknown_on_a_deal(run_deal: Run) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run_deal({**DEAL, "custom_properties": {"firstname": "x"}})
    assert "firstname" in caught.value.message
