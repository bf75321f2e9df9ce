"""``actionstream worker``."""

from __future__ import annotations

import asyncio

import typer

from processors.cli.common import fail, load_settings
from processors.redis_client import login_problem
from topics.connection import access_problems, diagnose


def worker(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback with start-up errors."),
) -> None:
    """Run a worker in the foreground (Ctrl-C or SIGTERM stops it gracefully).

    Configured by ACTIONSTREAM_* environment variables, e.g.

        ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 actionstream worker
    """
    from processors.worker import run_worker

    settings = load_settings(worker=True, debug=debug)
    # aiokafka would report a refused login or an untrusted CA only as "Unable to bootstrap",
    # deep in Faust's start-up logs: say which setting is wrong, once, and stop. A broker that
    # does not answer yet (starting with the worker) is Faust's to wait for.
    problem = asyncio.run(diagnose(settings.kafka))
    if problem is not None and not problem.unreachable:
        fail(problem, code=1)
    if problem is None:
        topics = settings.topics
        names = [topics.requests, topics.retry, topics.results, topics.dlq]
        lacking = asyncio.run(access_problems(settings.kafka, names, settings.kafka.consumer_group))
        if lacking:
            who = settings.kafka.sasl_username or "the worker's principal"
            fail(f"Kafka denies {who}: {'; '.join(lacking)} (README: Kafka ACLs)", code=1)
    refused = asyncio.run(login_problem(settings.redis))
    if refused is not None:
        fail(refused, code=1)
    run_worker(settings)
