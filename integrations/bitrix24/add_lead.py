"""``bitrix24_add_lead``: create a CRM lead through an inbound webhook (``crm.lead.add``)."""

from __future__ import annotations

import hashlib
from typing import Any

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bitrix24.client import BITRIX24, Bitrix24Integration, Webhook
from integrations.bot_logger import BotLogger
from integrations.context import request_context
from integrations.errors import OutcomeUnknownError
from integrations.outcome import ok

ORIGINATOR_ID = "actionstream"
_MAX_ORIGIN_ID = 64

_PHONE_TYPES = ["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"]
_EMAIL_TYPES = ["WORK", "HOME", "MAILING", "OTHER"]


def _multifield(value: dict[str, Any], types: list[str]) -> dict[str, Any]:
    """A PHONE / EMAIL config: one value, or a list of values or {value, value_type}."""
    entry = {
        "type": "object",
        "properties": {"value": value, "value_type": {"enum": types, "default": "WORK"}},
        "required": ["value"],
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            value,
            {"type": "array", "minItems": 1, "maxItems": 10, "items": {"oneOf": [value, entry]}},
        ]
    }


_TEXT = {"type": "string", "minLength": 1, "maxLength": 255}
_CODE = {"type": "string", "pattern": "^[A-Z0-9_]{1,50}$"}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": _TEXT,
        "name": _TEXT,
        "last_name": _TEXT,
        "second_name": _TEXT,
        "phone": _multifield({"type": "string", "pattern": r"^\+?[0-9 ()\-]{3,30}$"}, _PHONE_TYPES),
        "email": _multifield({"type": "string", "format": "email", "maxLength": 254}, _EMAIL_TYPES),
        "comments": {"type": "string", "maxLength": 10_000},
        "source_id": {**_CODE, "description": "e.g. WEB, CALL, ADVERTISING, OTHER"},
        "source_description": {"type": "string", "maxLength": 1000},
        "status_id": {**_CODE, "description": "e.g. NEW, IN_PROCESS"},
        "assigned_by_id": {"type": "integer", "minimum": 1},
        "opportunity": {"type": "number", "minimum": 0},
        "currency_id": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "company_title": _TEXT,
        "post": _TEXT,
        "opened": {"description": "Visible to everyone", "type": "boolean"},
        "utm_source": _TEXT,
        "utm_medium": _TEXT,
        "utm_campaign": _TEXT,
        "utm_content": _TEXT,
        "utm_term": _TEXT,
        "custom_fields": {
            "description": 'User fields by code, e.g. {"UF_CRM_1700000000": "value"}',
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": "^UF_CRM_[A-Z0-9_]{1,60}$"},
            "additionalProperties": {
                "type": ["string", "number", "boolean", "array"],
                "items": {"type": ["string", "number"]},
            },
        },
        "register_sonet_event": {
            "description": "Post the new lead to the activity stream and notify the assignee",
            "type": "boolean",
            "default": True,
        },
    },
    "required": ["title"],
    "additionalProperties": False,
}

METADATA = BITRIX24.action(
    "add_lead",
    name="Bitrix24 Add Lead",
    description="Create a lead in a Bitrix24 CRM through an inbound webhook (crm.lead.add).",
    config_schema=CONFIG_SCHEMA,
    # Bitrix24 has no idempotency key: a repeated crm.lead.add is a second lead. Retries look
    # the lead up by ORIGIN_ID first (see the action), which catches most repeats.
    side_effect=SideEffect.NON_IDEMPOTENT,
    # A lost lead is a lost customer; a rare duplicate is merged by hand in the CRM.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # The portal's leaky bucket: 50 requests, draining 2/s (GCRA: burst 50, then 2/s). The
    # bucket is per portal, shared by every webhook of it; ours is per webhook credential.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=50, period_s=25.0),),
)


def _multi(value: str | list[Any]) -> list[dict[str, str]]:
    items = value if isinstance(value, list) else [value]
    return [
        {"VALUE": item, "VALUE_TYPE": "WORK"}
        if isinstance(item, str)
        else {"VALUE": item["value"], "VALUE_TYPE": item.get("value_type", "WORK")}
        for item in items
    ]


_SIMPLE_FIELDS = {
    "title": "TITLE",
    "name": "NAME",
    "last_name": "LAST_NAME",
    "second_name": "SECOND_NAME",
    "comments": "COMMENTS",
    "source_id": "SOURCE_ID",
    "source_description": "SOURCE_DESCRIPTION",
    "status_id": "STATUS_ID",
    "assigned_by_id": "ASSIGNED_BY_ID",
    "opportunity": "OPPORTUNITY",
    "currency_id": "CURRENCY_ID",
    "company_title": "COMPANY_TITLE",
    "post": "POST",
    "utm_source": "UTM_SOURCE",
    "utm_medium": "UTM_MEDIUM",
    "utm_campaign": "UTM_CAMPAIGN",
    "utm_content": "UTM_CONTENT",
    "utm_term": "UTM_TERM",
}


def origin_id(key: str) -> str:
    """The lead's ORIGIN_ID for a request's idempotency key (hashed when long)."""
    return key if len(key) <= _MAX_ORIGIN_ID else hashlib.sha256(key.encode()).hexdigest()


def lead_fields(config: dict[str, Any], origin: str | None) -> dict[str, Any]:
    """``crm.lead.add``'s ``fields`` for an already schema-valid ``config``."""
    fields: dict[str, Any] = {
        bitrix: config[name] for name, bitrix in _SIMPLE_FIELDS.items() if name in config
    }
    if "phone" in config:
        fields["PHONE"] = _multi(config["phone"])
    if "email" in config:
        fields["EMAIL"] = _multi(config["email"])
    if "opened" in config:
        fields["OPENED"] = "Y" if config["opened"] else "N"
    fields.update(config.get("custom_fields", {}))
    if origin is not None:
        # Ties the lead to the request, so a retry can find it instead of adding it again.
        fields["ORIGINATOR_ID"] = ORIGINATOR_ID
        fields["ORIGIN_ID"] = origin
    return fields


class Bitrix24AddLeadIntegration(Bitrix24Integration):
    """Create a lead with ``crm.lead.add`` through the bot's inbound webhook (httpx, JSON body).

    Config: ``title`` (required), ``name``, ``last_name``, ``second_name``, ``phone`` and
    ``email`` (one value or a list; entries may carry a ``value_type``), ``comments``,
    ``source_id``, ``source_description``, ``status_id``, ``assigned_by_id``,
    ``opportunity`` + ``currency_id``, ``company_title``, ``post``, ``opened``, ``utm_*``,
    ``custom_fields`` (``UF_CRM_*``) and ``register_sonet_event``. Credentials:
    ``{"webhook_url": "https://<portal>/rest/<user id>/<secret>/"}``.

    Bitrix24 takes no idempotency key, so the lead carries ``ORIGINATOR_ID="actionstream"`` and
    ``ORIGIN_ID=<request idempotency key>``; a retry (``attempt > 1``) first looks the lead up
    with ``crm.lead.list`` and returns the one found (``deduplicated: true``) instead of adding
    a second. Returns ``{"lead_id": <int>, "deduplicated": <bool>}``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        hook = self.webhook(key, logger)
        context = request_context()
        origin = origin_id(context.idempotency_key) if context is not None else None
        if origin is not None and context is not None and context.attempt > 1:
            found = await self._find(hook, origin, logger)
            if found is not None:
                logger.info("bitrix24 lead already added by an earlier attempt", lead_id=found)
                return ok({"lead_id": found, "deduplicated": True})
        sonet = config.get("register_sonet_event", True)
        payload = {
            "fields": lead_fields(config, origin),
            "params": {"REGISTER_SONET_EVENT": "Y" if sonet else "N"},
        }
        result = await self.call_method(hook, "crm.lead.add", payload, logger=logger)
        lead_id = _lead_id(result, hook)
        logger.info("bitrix24 lead added", lead_id=lead_id)
        return ok({"lead_id": lead_id, "deduplicated": False})

    async def _find(self, hook: Webhook, origin: str, logger: BotLogger) -> int | None:
        """The id of the lead an earlier attempt of this request added, if any."""
        payload = {
            "filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "ORIGIN_ID": origin},
            "select": ["ID"],
            "order": {"ID": "ASC"},
        }
        found = await self.call_method(hook, "crm.lead.list", payload, logger=logger)
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return _lead_id(found[0].get("ID"), hook)
        return None


def _lead_id(value: object, hook: Webhook) -> int:
    """Bitrix24 answers ids as ints (add) or numeric strings (list)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise OutcomeUnknownError(
        f"Bitrix24 on {hook.host}: unexpected lead id {value!r}; the lead may have been created",
        code=502,
    )
