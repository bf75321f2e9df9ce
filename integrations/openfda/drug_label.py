"""``openfda_drug_label``: look a medicine up in the FDA's drug labels (openFDA)."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.openfda.client import OPENFDA, OpenFdaIntegration, no_matches
from integrations.outcome import ok

SEARCH_FIELDS = ("brand_name", "generic_name", "substance_name", "manufacturer_name")
SECTIONS = (
    "indications_and_usage",
    "dosage_and_administration",
    "dosage_forms_and_strengths",
    "contraindications",
    "warnings",
    "warnings_and_cautions",
    "boxed_warning",
    "adverse_reactions",
    "drug_interactions",
    "pregnancy",
    "purpose",
    "active_ingredient",
    "do_not_use",
    "stop_use",
    "keep_out_of_reach_of_children",
)
DEFAULT_SECTIONS = (
    "indications_and_usage",
    "dosage_and_administration",
    "contraindications",
    "warnings",
    "boxed_warning",
)
_OPENFDA_FIELDS = (
    "brand_name",
    "generic_name",
    "manufacturer_name",
    "substance_name",
    "route",
    "product_type",
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            # Quotes and backslashes would break out of the quoted search term.
            # Linear: leading space, then a visible character, then the rest; never two
            # quantified parts that can match the same characters (no backtracking blow-up).
            "pattern": r'^\s*[^"\\\s][^"\\]*$',
            "description": "The drug name to look for, e.g. 'Advil' or 'ibuprofen'",
        },
        "search_by": {"enum": list(SEARCH_FIELDS), "default": "brand_name"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "skip": {"type": "integer", "minimum": 0, "maximum": 25000, "default": 0},
        "sections": {
            "type": "array",
            "items": {"enum": list(SECTIONS)},
            "minItems": 1,
            "uniqueItems": True,
            "description": "Label sections to return (default: indications, dosage, "
            "contraindications, warnings, boxed warning)",
        },
        "max_section_chars": {"type": "integer", "minimum": 100, "maximum": 4000, "default": 1000},
    },
    "required": ["name"],
    "additionalProperties": False,
}

METADATA = OPENFDA.action(
    "drug_label",
    name="openFDA Drug Label",
    description="Find a medicine's FDA drug label (indications, dosage, warnings...) by brand, "
    "generic or substance name. Reference data, not medical advice.",
    config_schema=CONFIG_SCHEMA,
    # The key is optional: without 'openfda' credentials the call is anonymous (see client.py).
    side_effect=SideEffect.NONE,
    timeout_s=20.0,  # above the 15 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # 240/min per key (or per IP without one) and 120,000/day per key. Anonymous calls only get
    # 1,000/day per IP: that one is left to openFDA's 429 (rate_limited) rather than throttling
    # every keyed bot to it.
    rate_limits=(
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=240, period_s=60.0),
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=120_000, period_s=86_400.0),
    ),
)


class OpenFdaDrugLabelIntegration(OpenFdaIntegration):
    """Search drug labels with openFDA (``GET /drug/label.json?search=openfda.<field>:"..."``).

    Config: ``name``, ``search_by`` (brand_name/generic_name/substance_name/manufacturer_name),
    ``limit`` (1-10), ``skip``, ``sections`` and ``max_section_chars`` (each section is cut to
    it). Credentials: optional ``{"api_key": "..."}``. Returns ``{"total", "skip", "labels":
    [{"id", "set_id", "version", "effective_time", "brand_name", "generic_name",
    "manufacturer_name", "substance_name", "route", "product_type", "sections": {...}}]}``;
    "No matches found!" (openFDA's 404) is a success with ``total: 0`` and no labels.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        field = config.get("search_by", "brand_name")
        skip = int(config.get("skip", 0))
        params = {
            "search": f'openfda.{field}:"{config["name"].strip()}"',
            "limit": str(config.get("limit", 3)),
        }
        if skip:
            params["skip"] = str(skip)
        if key:
            params["api_key"] = key
        reply = await self.call(
            "GET", "/drug/label.json", params=params, secrets=[key] if key else (),
            what="drug label", logger=logger,
        )  # fmt: skip
        if no_matches(reply.response, reply.data):
            logger.info("openfda drug label: no matches", search_by=field)
            return ok({"total": 0, "skip": skip, "labels": []})
        body = reply.body
        sections = tuple(config.get("sections", DEFAULT_SECTIONS))
        max_chars = int(config.get("max_section_chars", 1000))
        # "results" is a list: OpenFda.is_error sent anything else back as not openFDA's answer.
        found = [raw for raw in body["results"] if isinstance(raw, dict)]
        labels = [_label(raw, sections, max_chars) for raw in found]
        total = ((body.get("meta") or {}).get("results") or {}).get("total", len(labels))
        logger.info("openfda drug label found", total=total, anonymous=key is None)
        return ok({"total": total, "skip": skip, "labels": labels})


def _label(raw: dict[str, Any], sections: tuple[str, ...], max_chars: int) -> dict[str, Any]:
    openfda = raw.get("openfda") or {}
    label: dict[str, Any] = {
        "id": raw.get("id"),
        "set_id": raw.get("set_id"),
        "version": raw.get("version"),
        "effective_time": raw.get("effective_time"),
    }
    for name in _OPENFDA_FIELDS:
        label[name] = list(openfda.get(name) or [])
    texts = {}
    for name in sections:
        parts = raw.get(name)
        if isinstance(parts, list) and parts:
            text = "\n".join(str(p) for p in parts).strip()
            texts[name] = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
    label["sections"] = texts
    return label
