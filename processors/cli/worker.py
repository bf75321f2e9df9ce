"""``actionstream worker``."""

from __future__ import annotations

import asyncio

import typer

from processors.cli.common import fail, load_settings
from processors.preflight import login_problem


def worker(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback with start-up errors."),
) -> None:
    """Run a worker in the foreground (Ctrl-C or SIGTERM stops it gracefully).

    Configured by ACTIONSTREAM_* environment variables, e.g.

        ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 actionstream worker
    """
    from processors.worker import limit_malloc_arenas, run_worker

    settings = load_settings(worker=True, debug=debug)
    limit_malloc_arenas(settings.worker.malloc_arena_max)  # before any thread allocates
    # aiokafka would report a refused login, an untrusted CA or a missing ACL only as "Unable to
    # bootstrap", deep in Faust's start-up logs: say which setting is wrong, once, and stop.
    problem = asyncio.run(login_problem(settings))
    if problem is not None:
        fail(problem, code=1)
    run_worker(settings)
