"""``actionstream topics apply|describe``."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from processors.cli.common import console, load_settings
from topics.admin import TopicAdmin, TopicState
from topics.catalogue import catalogue

app = typer.Typer(help="Create and inspect actionstream's Kafka topics.", no_args_is_help=True)


@app.command("apply")
def topics_apply() -> None:
    """Create the topics that are missing; report drift of existing ones without changing them.

    Example: actionstream topics apply
    """
    settings = load_settings()

    async def apply() -> int:
        async with TopicAdmin(settings.kafka) as admin:
            reports = await admin.apply(catalogue(settings.topics))
        drifted = 0
        for report in reports:
            line = f"{report.spec.name}: {report.state}"
            if report.drift:
                drifted += 1
                line += " (" + "; ".join(report.drift) + ")"
            console.print(line)
        return drifted

    drifted = asyncio.run(apply())
    if drifted:
        console.print(f"[yellow]{drifted} topic(s) differ from the catalogue; nothing was changed.")


@app.command("describe")
def topics_describe() -> None:
    """Print the live state of actionstream's topics.

    Example: actionstream topics describe
    """
    settings = load_settings()
    specs = catalogue(settings.topics)

    async def describe() -> None:
        async with TopicAdmin(settings.kafka) as admin:
            live = await admin.describe([s.name for s in specs])
        table = Table("role", "topic", "partitions", "replication", "retention.ms", "state")
        for spec in specs:
            topic = live.get(spec.name)
            if topic is None:
                table.add_row(spec.role, spec.name, "-", "-", "-", "[red]missing")
                continue
            table.add_row(
                spec.role,
                spec.name,
                str(topic.partitions),
                str(topic.replication_factor),
                topic.configs.get("retention.ms", "?"),
                TopicState.OK,
            )
        console.print(table)

    asyncio.run(describe())
