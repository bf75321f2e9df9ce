"""``wildberries_get_stocks``: the seller-warehouse (FBS) stock of some sizes on Wildberries."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import PermanentError
from integrations.outcome import ok
from integrations.wildberries.client import WILDBERRIES, WildberriesIntegration

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "warehouse_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": 9007199254740991,
            "description": "The seller's warehouse ID (GET /api/v3/warehouses)",
        },
        "chrt_ids": {
            "type": "array",
            "description": "Size IDs (chrtID from the product cards) to ask about",
            "items": {"type": "integer", "minimum": 1, "maximum": 9007199254740991},
            "minItems": 1,
            "maxItems": 1000,
            "uniqueItems": True,
        },
    },
    "required": ["warehouse_id", "chrt_ids"],
    "additionalProperties": False,
}

METADATA = WILDBERRIES.action(
    "get_stocks",
    name="Wildberries Get Stocks",
    description="Read the stock of product sizes on one of the seller's own warehouses (FBS) "
    "through the Wildberries Marketplace API.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # POST, but a read: it changes nothing
    timeout_s=20.0,  # above the 15 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # All seller-warehouse stock methods share one budget per seller account. Personal and
    # service tokens get 300/min (burst 20); basic tokens 150/min (burst 10) since 2026-03-30.
    # We cannot tell the token type, so we keep to the basic one.
    rate_limits=(
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=150, period_s=60.0),
        RateLimit(scope=RateLimitScope.CREDENTIAL, limit=10, period_s=1.0),
    ),
)


class WildberriesGetStocksIntegration(WildberriesIntegration):
    """Read FBS stock with ``POST /api/v3/stocks/{warehouseId}`` (body ``{"chrtIds": [...]}``).

    Config: ``warehouse_id`` and ``chrt_ids`` (1-1000 size IDs). Credentials:
    ``{"token": "<seller API token>"}``. Returns ``{"warehouse_id", "stocks": [{"chrt_id",
    "amount"}], "total_amount", "missing_chrt_ids"}``; sizes Wildberries did not list (no stock
    record on that warehouse) are in ``missing_chrt_ids``.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        warehouse = int(config["warehouse_id"])
        asked: list[int] = list(config["chrt_ids"])
        reply = await self.call(
            "POST", f"/api/v3/stocks/{warehouse}", json={"chrtIds": asked},
            headers={"Authorization": token}, secrets=[token], what="stocks", logger=logger,
        )  # fmt: skip
        stocks = _stocks(reply.data)
        seen = {row["chrt_id"] for row in stocks}
        logger.info("wildberries stocks read", warehouse_id=warehouse, rows=len(stocks))
        return ok(
            {
                "warehouse_id": warehouse,
                "stocks": stocks,
                "total_amount": sum(row["amount"] for row in stocks),
                "missing_chrt_ids": [chrt for chrt in asked if chrt not in seen],
            }
        )


def _stocks(body: Any) -> list[dict[str, int]]:
    rows = body.get("stocks") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise PermanentError("Wildberries stocks: the answer has no 'stocks' list", code=502)
    stocks = []
    for row in rows:
        chrt, amount = (row.get("chrtId"), row.get("amount")) if isinstance(row, dict) else (0, 0)
        if not isinstance(chrt, int) or not isinstance(amount, int):
            raise PermanentError(f"Wildberries stocks: malformed stock row {row!r}", code=502)
        stocks.append({"chrt_id": chrt, "amount": amount})
    return stocks
