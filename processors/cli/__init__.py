"""The ``actionstream`` command line: one module per command group."""

from __future__ import annotations

import typer

from processors.cli import audit, bots, integrations, publish, replay, topics, worker

cli = typer.Typer(
    help="actionstream: execute chat-bot integration actions from Kafka, in order per bot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.command("worker")(worker.worker)
cli.command("publish")(publish.publish)
cli.add_typer(topics.app, name="topics")
cli.add_typer(integrations.app, name="integrations")
cli.command("replay")(replay.replay)
cli.add_typer(audit.app, name="audit")
cli.add_typer(bots.app, name="bots")


def main() -> None:
    cli()
