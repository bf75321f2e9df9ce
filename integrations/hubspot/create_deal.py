"""``hubspot_create_deal``: create a CRM deal (``POST /crm/v3/objects/deals``)."""

from __future__ import annotations

from typing import Any

from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.hubspot.client import (
    HUBSPOT,
    RATE_LIMITS,
    HubSpotIntegration,
    custom_properties_schema,
    properties_of,
)
from integrations.outcome import ok

PATH = "/crm/v3/objects/deals"
_KEY = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}
_OBJECT_ID = {"type": "string", "pattern": "^[0-9]{1,20}$"}

#: HubSpot-defined association types from a deal (CRM associations v4 "type IDs").
ASSOCIATION_TYPES = {"contact_id": 3, "company_id": 5}

#: The standard deal properties a config may set, by HubSpot's internal name.
STANDARD: dict[str, dict[str, Any]] = {
    "dealname": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "description": "The deal's name, e.g. 'Order #1042'",
    },
    "amount": {
        "type": "number",
        "minimum": 0,
        "maximum": 1e15,
        "description": "The deal's amount, in the account's currency",
    },
    "pipeline": {**_KEY, "description": "Pipeline id ('default' for the sales pipeline)"},
    "dealstage": {**_KEY, "description": "Stage id, e.g. 'appointmentscheduled'"},
    "closedate": {
        "type": "string",
        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,3})?)?Z)?$",
        "description": "Expected close date, ISO 8601 (2026-12-31 or 2026-12-31T12:00:00Z)",
    },
    "dealtype": {
        "enum": ["newbusiness", "existingbusiness"],
        "description": "New or existing business (HubSpot's default values)",
    },
    "description": {
        "type": "string",
        "maxLength": 5000,
        "description": "A description of the deal",
    },
    "hubspot_owner_id": {**_OBJECT_ID, "description": "Id of the HubSpot user who owns the deal"},
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **STANDARD,
        "contact_id": {**_OBJECT_ID, "description": "Associate the deal with this contact"},
        "company_id": {**_OBJECT_ID, "description": "Associate the deal with this company"},
        "custom_properties": custom_properties_schema(STANDARD, '{"delivery_city": "Oslo"}'),
    },
    "required": ["dealname"],
    "additionalProperties": False,
}

METADATA = HUBSPOT.action(
    "create_deal",
    name="HubSpot Create Deal",
    description="Create a deal in a HubSpot CRM (CRM v3 objects API), optionally associated "
    "with a contact and a company.",
    config_schema=CONFIG_SCHEMA,
    # Deals have no unique property and HubSpot takes no idempotency key: a repeat is a
    # second deal (unlike contacts, whose email dedupes).
    side_effect=SideEffect.NON_IDEMPOTENT,
    # As for CRM leads: a lost deal is lost business, a rare duplicate is merged by hand.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=25.0,  # above the 20 s HTTP timeout
    max_attempts=3,
    rate_limits=RATE_LIMITS,
)


def deal_body(config: dict[str, Any]) -> dict[str, Any]:
    """The create body for a schema-valid ``config``: properties and associations."""
    body: dict[str, Any] = {"properties": properties_of(config, STANDARD)}
    associations = [
        {
            "to": {"id": config[field]},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
        for field, type_id in ASSOCIATION_TYPES.items()
        if field in config
    ]
    if associations:
        body["associations"] = associations
    return body


class HubSpotCreateDealIntegration(HubSpotIntegration):
    """Create a deal with ``POST /crm/v3/objects/deals`` (httpx, JSON body).

    Config: ``dealname`` (required), the standard properties of :data:`STANDARD`,
    ``contact_id`` / ``company_id`` (associations) and ``custom_properties``. Credentials as
    for contacts (scope ``crm.objects.deals.write``). Returns ``{"deal_id": "<id>"}``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        deal_id = await self.create("deals", deal_body(config), token, logger)
        logger.info("hubspot deal created", deal_id=deal_id)
        return ok({"deal_id": deal_id})
