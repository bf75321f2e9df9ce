"""``actionstream worker``."""

from __future__ import annotations

import typer

from processors.cli.common import load_settings


def worker(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback with start-up errors."),
) -> None:
    """Run a worker in the foreground (Ctrl-C or SIGTERM stops it gracefully).

    Configured by ACTIONSTREAM_* environment variables, e.g.

        ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 actionstream worker
    """
    from processors.worker import run_worker

    run_worker(load_settings(worker=True, debug=debug))
