"""``ozon_get_stocks``: one page of the seller's product stocks on Ozon (FBO, FBS, rFBS)."""

from __future__ import annotations

from typing import Any

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import PermanentError
from integrations.outcome import ok
from integrations.ozon.client import OZON, OzonIntegration, OzonKeys

METHOD = "/v4/product/info/stocks"  # still the current version in the swagger (December 2026)
MAX_LIMIT = 1000  # "minimum 1, maximum 1000" values per page
MAX_CURSOR_CHARS = 1024
VISIBILITIES = (
    "ALL", "VISIBLE", "INVISIBLE", "EMPTY_STOCK", "NOT_MODERATED", "MODERATED", "DISABLED",
    "STATE_FAILED", "READY_TO_SUPPLY", "VALIDATION_STATE_PENDING", "VALIDATION_STATE_FAIL",
    "VALIDATION_STATE_SUCCESS", "TO_SUPPLY", "IN_SALE", "REMOVED_FROM_SALE", "BANNED",
    "OVERPRICED", "CRITICALLY_OVERPRICED", "EMPTY_BARCODE", "BARCODE_EXISTS", "QUARANTINE",
    "ARCHIVED", "OVERPRICED_WITH_STOCK", "PARTIAL_APPROVED",
)  # fmt: skip

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "offer_ids": {
            "type": "array",
            "description": "Only these products, by the seller's article (offer_id)",
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "pattern": r"^[^\x00-\x1f\x7f]+$",
                "description": "An offer_id (the seller's article)",
            },
            "minItems": 1,
            "maxItems": MAX_LIMIT,
            "uniqueItems": True,
        },
        "product_ids": {
            "type": "array",
            "description": "Only these products, by Ozon's product_id",
            "items": {
                "type": "integer",
                "minimum": 1,
                "maximum": 9007199254740991,
                "description": "An Ozon product_id",
            },
            "minItems": 1,
            "maxItems": MAX_LIMIT,
            "uniqueItems": True,
        },
        "visibility": {
            "enum": list(VISIBILITIES),
            "default": "ALL",
            "description": "Which products by their state (ALL: every one but the archived)",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": 100,
            "description": "Products per page (1-1000)",
        },
        "cursor": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CURSOR_CHARS,
            "pattern": r"^[!-~]+$",
            "description": "The cursor a previous page returned, to read the next page",
        },
    },
    "additionalProperties": False,
}

METADATA = OZON.action(
    "get_stocks",
    name="Ozon Get Stocks",
    description="Read how many of the seller's products are in stock and reserved on Ozon's and "
    "the seller's warehouses (Seller API /v4/product/info/stocks), one page at a time.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a POST, but a read: it changes nothing
    timeout_s=20.0,  # above the 15 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # 50 requests/s over all methods per Client-Id (since 2025-05-19, per Ozon's developer
    # channel). Counted per stored credential, which is one Client-Id per bot.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=50, period_s=1.0),),
)


class OzonGetStocksIntegration(OzonIntegration):
    """Read stocks with ``POST /v4/product/info/stocks``, one page per execution.

    Config: ``offer_ids`` / ``product_ids`` (filters), ``visibility``, ``limit`` (1-1000) and
    ``cursor`` (from the previous page). Credentials: ``{"client_id", "api_key"}``. Returns
    ``{"items": [{"product_id", "offer_id", "stocks": [{"type", "sku", "present", "reserved",
    "shipment_type", "warehouse_ids"}]}], "total", "cursor", "has_more"}``: to read the next page
    the bot sends the same config with ``cursor``. Ozon's answer has no "last page" flag, so
    ``has_more`` is true when it gave a cursor and a full page.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], keys: OzonKeys, logger: BotLogger
    ) -> dict[str, Any]:
        limit = int(config.get("limit", 100))
        filters: dict[str, Any] = {"visibility": config.get("visibility", "ALL")}
        if "offer_ids" in config:
            filters["offer_id"] = list(config["offer_ids"])
        if "product_ids" in config:  # int64 travels as a string in Ozon's JSON
            filters["product_id"] = [str(product) for product in config["product_ids"]]
        body: dict[str, Any] = {"filter": filters, "limit": limit}
        if "cursor" in config:
            body["cursor"] = config["cursor"]
        answer = await self.seller_call(
            METHOD, body, what="product stocks", logger=logger, keys=keys
        )
        items = [_item(raw) for raw in answer["items"]]  # a list: Ozon.is_error checked it
        cursor = answer.get("cursor")
        cursor = cursor if isinstance(cursor, str) and cursor else None
        total = answer.get("total")
        result = {
            "items": items,
            "total": total if isinstance(total, int) else len(items),
            "cursor": cursor,
            "has_more": cursor is not None and len(items) >= limit,
        }
        logger.info("ozon stocks read", products=len(items), has_more=result["has_more"])
        return ok(result)


def _item(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("product_id"), int):
        raise PermanentError(f"Ozon product stocks: malformed item {str(raw)[:200]!r}", code=502)
    stocks = raw.get("stocks")
    if not isinstance(stocks, list):
        stocks = []
    return {
        "product_id": raw["product_id"],
        "offer_id": raw.get("offer_id") if isinstance(raw.get("offer_id"), str) else None,
        "stocks": [_stock(stock) for stock in stocks if isinstance(stock, dict)],
    }


def _stock(raw: dict[str, Any]) -> dict[str, Any]:
    def count(name: str) -> int:
        value = raw.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    warehouses = raw.get("warehouse_ids")
    return {
        "type": raw.get("type") if isinstance(raw.get("type"), str) else None,
        "sku": raw.get("sku") if isinstance(raw.get("sku"), int) else None,
        "present": count("present"),
        "reserved": count("reserved"),
        "shipment_type": raw.get("shipment_type")
        if isinstance(raw.get("shipment_type"), str)
        else None,
        "warehouse_ids": [str(w) for w in warehouses] if isinstance(warehouses, list) else [],
    }
