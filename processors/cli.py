"""The ``actionstream`` command line."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from processors.settings import Settings
from topics.admin import TopicAdmin, TopicState
from topics.catalogue import catalogue

cli = typer.Typer(
    help="actionstream: execute chat-bot integration actions from Kafka, in order per bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_cli = typer.Typer(
    help="Create and inspect actionstream's Kafka topics.", no_args_is_help=True
)
cli.add_typer(topics_cli, name="topics")
console = Console()


@cli.command()
def worker() -> None:
    """Run a worker in the foreground (Ctrl-C or SIGTERM stops it gracefully).

    Example: ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 actionstream worker
    """
    from processors.worker import run_worker

    run_worker(Settings())


@topics_cli.command("apply")
def topics_apply() -> None:
    """Create the topics that are missing; report drift of existing ones without changing them.

    Example: actionstream topics apply
    """
    settings = Settings()

    async def apply() -> int:
        async with TopicAdmin(settings.kafka.bootstrap_servers) as admin:
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


@topics_cli.command("describe")
def topics_describe() -> None:
    """Print the live state of actionstream's topics.

    Example: actionstream topics describe
    """
    settings = Settings()
    specs = catalogue(settings.topics)

    async def describe() -> None:
        async with TopicAdmin(settings.kafka.bootstrap_servers) as admin:
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


def main() -> None:
    cli()
