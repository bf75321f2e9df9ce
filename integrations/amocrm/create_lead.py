"""``amocrm_create_lead``: add a lead to an amoCRM / Kommo account (``POST /api/v4/leads``)."""

from __future__ import annotations

from typing import Any

from integrations.amocrm.client import AMOCRM, AmoAccount, AmoCRMIntegration
from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import OutcomeUnknownError
from integrations.outcome import ok

PATH = "/api/v4/leads"
_MAX_ID = 9007199254740991


def _id(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": _MAX_ID, "description": description}


_VALUE = {
    "type": "object",
    "properties": {
        "value": {
            "type": ["string", "number", "boolean"],
            "maxLength": 1000,
            "description": "The value (text, number, date as Unix seconds, checkbox)",
        },
        "enum_id": _id("For list fields: the id of the chosen option"),
    },
    "anyOf": [{"required": ["value"]}, {"required": ["enum_id"]}],
    "additionalProperties": False,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "The lead's name, e.g. 'Order from the Telegram bot'",
        },
        "price": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2147483647,
            "description": "The lead's budget, in the account's currency (whole units)",
        },
        "pipeline_id": _id("Pipeline to add the lead to (the account's main one when absent)"),
        "status_id": _id("Stage of the pipeline (its first stage when absent)"),
        "responsible_user_id": _id("Id of the amoCRM user responsible for the lead"),
        "tags": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "minLength": 1, "maxLength": 50},
            "description": "Tag names to put on the lead (created when new)",
        },
        "custom_fields_values": {
            "type": "array",
            "maxItems": 40,
            "description": "Custom field values by field id, e.g. "
            '[{"field_id": 123, "values": [{"value": "web"}]}]',
            "items": {
                "type": "object",
                "properties": {
                    "field_id": _id("Id of the custom field"),
                    "values": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": _VALUE,
                        "description": "Its values (one, or several for multi-select fields)",
                    },
                },
                "required": ["field_id", "values"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["name"],
    "additionalProperties": False,
}

METADATA = AMOCRM.action(
    "create_lead",
    name="AmoCRM Create Lead",
    description="Add a lead to an amoCRM / Kommo account (API v4, POST /api/v4/leads).",
    config_schema=CONFIG_SCHEMA,
    # AmoCRM has no idempotency key and no unique field on leads (request_id is only echoed
    # back): a repeated POST is a second lead.
    side_effect=SideEffect.NON_IDEMPOTENT,
    # As for bitrix24_add_lead: a lost lead is a lost customer, a rare duplicate is merged by
    # hand in the CRM.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=25.0,  # above the 20 s HTTP timeout
    max_attempts=3,
    # "No more than 7 requests per second" per account (amoCRM API limits); past it 429, and
    # repeated abuse blocks the IP (403). One credential is one account's authorisation.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=7, period_s=1.0),),
)

_SIMPLE = ("name", "price", "pipeline_id", "status_id", "responsible_user_id")


def lead(config: dict[str, Any]) -> dict[str, Any]:
    """One element of the ``POST /api/v4/leads`` array for an already schema-valid ``config``."""
    body: dict[str, Any] = {key: config[key] for key in _SIMPLE if key in config}
    if "custom_fields_values" in config:
        body["custom_fields_values"] = config["custom_fields_values"]
    if config.get("tags"):
        body["_embedded"] = {"tags": [{"name": name} for name in config["tags"]]}
    return body


class AmoCRMCreateLeadIntegration(AmoCRMIntegration):
    """Add a lead with ``POST /api/v4/leads`` (a JSON array of one lead).

    Config: ``name`` (required), ``price``, ``pipeline_id``, ``status_id``,
    ``responsible_user_id``, ``tags`` and ``custom_fields_values`` (≤ 40 fields).
    Credentials: ``amocrm`` / ``oauth`` with ``base_url`` (or ``subdomain``) and
    ``access_token``. Returns ``{"lead_id": <int>}``.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], account: AmoAccount, logger: BotLogger
    ) -> dict[str, Any]:
        answer = await self.post(account, PATH, [lead(config)], logger=logger)
        embedded = answer.get("_embedded")
        leads = embedded.get("leads") if isinstance(embedded, dict) else None
        first = leads[0] if isinstance(leads, list) and leads else None
        lead_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(lead_id, int) or isinstance(lead_id, bool):
            raise OutcomeUnknownError(
                f"AmoCRM POST {PATH} on {account.host}: an answer without a lead id; the lead "
                "may have been added",
                code=502,
            )
        logger.info("amocrm lead added", lead_id=lead_id)
        return ok({"lead_id": lead_id})
