"""``hubspot_create_contact``: create a CRM contact (``POST /crm/v3/objects/contacts``)."""

from __future__ import annotations

from typing import Any

from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.hubspot.client import (
    HUBSPOT,
    RATE_LIMITS,
    ContactExists,
    HubSpotIntegration,
    custom_properties_schema,
    properties_of,
)
from integrations.outcome import ok

PATH = "/crm/v3/objects/contacts"


def _text(description: str, max_length: int = 255) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": description}


#: The standard contact properties a config may set, by HubSpot's internal name.
STANDARD: dict[str, dict[str, Any]] = {
    "email": {
        "type": "string",
        "format": "email",
        "maxLength": 254,
        "description": "The contact's email: HubSpot's unique key for contacts (required, so "
        "a repeat finds the contact instead of creating another)",
    },
    "firstname": _text("First name"),
    "lastname": _text("Last name"),
    "phone": {
        "type": "string",
        "pattern": r"^\+?[0-9 ().\-]{3,30}$",
        "description": "Phone number, e.g. +1 617 555 0100",
    },
    "mobilephone": {
        "type": "string",
        "pattern": r"^\+?[0-9 ().\-]{3,30}$",
        "description": "Mobile phone number",
    },
    "company": _text("Company name (a text property; it does not associate a company record)"),
    "jobtitle": _text("Job title"),
    "website": {
        "type": "string",
        "maxLength": 2048,
        "pattern": r"^https?://[^\s]{1,2040}$",
        "description": "Website URL (http or https)",
    },
    "address": _text("Street address", 1000),
    "city": _text("City"),
    "state": _text("State or region"),
    "zip": _text("Postal code", 20),
    "country": _text("Country"),
    "lifecyclestage": {
        "enum": [
            "subscriber",
            "lead",
            "marketingqualifiedlead",
            "salesqualifiedlead",
            "opportunity",
            "customer",
            "evangelist",
            "other",
        ],
        "description": "Lifecycle stage (HubSpot's default stages)",
    },
    "hs_lead_status": {
        "enum": [
            "NEW",
            "OPEN",
            "IN_PROGRESS",
            "OPEN_DEAL",
            "UNQUALIFIED",
            "ATTEMPTED_TO_CONTACT",
            "CONNECTED",
            "BAD_TIMING",
        ],
        "description": "Lead status (HubSpot's default values)",
    },
    "hubspot_owner_id": {
        "type": "string",
        "pattern": "^[0-9]{1,20}$",
        "description": "Id of the HubSpot user who owns the contact",
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **STANDARD,
        "custom_properties": custom_properties_schema(STANDARD, '{"favorite_color": "blue"}'),
    },
    "required": ["email"],
    "additionalProperties": False,
}

METADATA = HUBSPOT.action(
    "create_contact",
    name="HubSpot Create Contact",
    description="Create a contact in a HubSpot CRM (CRM v3 objects API); an existing contact "
    "with the same email is reported instead of duplicated.",
    config_schema=CONFIG_SCHEMA,
    # HubSpot takes no idempotency key, but a contact's email is unique: creating it again
    # answers 409 CONFLICT "Existing ID: <id>", which the action reports as that contact
    # (created: false). So a retry after a lost answer finds the contact the first attempt made
    # instead of adding a second. That holds only with an email, which is why the schema
    # requires one (HubSpot itself does not: a contact without email would be duplicated).
    side_effect=SideEffect.IDEMPOTENT,
    # After a lost answer, run again: the worst case is created: false for our own contact.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=25.0,  # above the 20 s HTTP timeout
    max_attempts=3,
    rate_limits=RATE_LIMITS,
)


class HubSpotCreateContactIntegration(HubSpotIntegration):
    """Create a contact with ``POST /crm/v3/objects/contacts`` (httpx, JSON body).

    Config: ``email`` (required) and the standard properties of :data:`STANDARD`, plus
    ``custom_properties`` (≤ 20, by internal name). Credentials: ``hubspot`` / ``oauth``
    (``access_token``; renewed by the resolver from the ``refresh_token``). Returns
    ``{"contact_id": "<id>", "created": true}``, or ``created: false`` with the id of the
    contact that already has this email (HubSpot's 409; the config's other properties are
    then *not* applied to it: this action never updates).
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        body = {"properties": properties_of(config, STANDARD)}
        try:
            contact_id = await self.create("contacts", body, token, logger)
        except ContactExists as exists:
            logger.info("hubspot contact exists already", contact_id=exists.existing_id)
            return ok({"contact_id": exists.existing_id, "created": False})
        logger.info("hubspot contact created", contact_id=contact_id)
        return ok({"contact_id": contact_id, "created": True})
