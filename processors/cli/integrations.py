"""``actionstream integrations list|show``: the catalogue this installation can run."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from integrations.base import Category
from integrations.discovery import BUILTIN_SERVICES, discover
from integrations.errors import IntegrationError
from integrations.registry import IntegrationRegistry
from processors.cli.common import console, fail, load_settings

app = typer.Typer(help="List and inspect the integration catalogue.", no_args_is_help=True)


def _registry() -> IntegrationRegistry:
    registry = IntegrationRegistry()
    discover(registry, (*BUILTIN_SERVICES, *load_settings().integrations.extra_modules))
    return registry


@app.command("list")
def list_integrations(
    category: Annotated[
        str | None, typer.Option("--category", help="one of: " + ", ".join(Category))
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="the full catalogue as JSON, schemas included")
    ] = False,
) -> None:
    """List integrations and services that are unavailable (with their install hint).

    Examples:

        actionstream integrations list
        actionstream integrations list --category payments
        actionstream integrations list --json > catalogue.json
    """
    if category is not None and category not in set(Category):
        fail(f"unknown category {category!r}; choose one of: {', '.join(Category)}")
    registry = _registry()
    entries = _filtered(registry.catalogue(), category)
    if as_json:
        console.print_json(json.dumps(entries))
        return
    table = Table("id", "version", "category", "side effect", "available", "name")
    for entry in entries:
        available = entry.get("available", True)
        table.add_row(
            entry.get("id") or f"{entry['service']}_*",
            entry.get("version") or "-",
            entry.get("category") or "-",
            entry.get("side_effect") or "-",
            "yes" if available else f"[red]no[/red]: {entry.get('install_hint', '')}",
            entry.get("name") or entry.get("reason") or "",
        )
    console.print(table)


@app.command("show")
def show(integration_id: Annotated[str, typer.Argument(help="e.g. telegram_send_message")]) -> None:
    """Metadata, config schema, side-effect policy and rate limits of one integration.

    Example: actionstream integrations show telegram_send_message
    """
    registry = _registry()
    try:
        entry = registry.entry(integration_id)
    except IntegrationError as exc:
        fail(str(exc))
    console.print_json(entry.metadata.model_dump_json())


def _filtered(entries: list[dict[str, Any]], category: str | None) -> list[dict[str, Any]]:
    if category is None:
        return entries
    return [e for e in entries if e.get("category") == category]
