"""``actionstream publish``: put one request on Kafka; optionally wait for its result."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any

import typer

from integrations.discovery import discover
from integrations.errors import IntegrationError
from integrations.registry import IntegrationRegistry
from processors.cli.common import console, fail, load_settings
from processors.settings import Settings
from schemas import IntegrationResult, ResultStatus, ordering_key_problem, utc_now
from topics.publisher import RequestPublisher

OK_STATUSES = (ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE)


def publish(
    bot: Annotated[str, typer.Option("--bot", help="bot_id; the request is keyed by it")],
    integration: Annotated[
        str, typer.Option("--integration", help="integration id, e.g. telegram_send_message")
    ],
    config: Annotated[str, typer.Option("--config", help="the action's config as a JSON object")],
    version: Annotated[
        str | None, typer.Option("--version", help="pin an integration version")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="defaults to the request_id")
    ] = None,
    deadline_s: Annotated[
        float | None, typer.Option("--deadline-s", help="expire if not run within N seconds")
    ] = None,
    ordering_key: Annotated[
        str | None,
        typer.Option(
            "--ordering-key",
            help="keep order only among this bot's requests with this key (e.g. the chat id)",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the result and print it")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="how long --wait waits")] = 30.0,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="skip checking config against the catalogue")
    ] = False,
) -> None:
    """Publish one integration request (and with --wait, print its result).

    Examples:

        actionstream publish --bot demo-bot --integration telegram_send_message \\
            --config '{"chat_id": 42, "text": "hello"}' --wait

        actionstream publish --bot demo-bot --integration telegram_send_message \\
            --ordering-key 42 --config '{"chat_id": 42, "text": "hello"}'

        actionstream publish --bot b1 --integration openai_chat_completion --deadline-s 60 \\
            --config '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'

    Exit code: 0 when published (with --wait: when the result is SUCCEEDED or DUPLICATE),
    1 when the result is a failure, 2 for bad input.
    """
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as exc:
        fail(f"--config is not valid JSON ({exc.msg} at column {exc.colno}); pass a JSON object")
    if not isinstance(parsed, dict):
        fail(f"--config must be a JSON object, got {type(parsed).__name__}")
    problem = ordering_key_problem(ordering_key, None)
    if problem is not None:
        fail(f"--ordering-key: {problem}")
    settings = load_settings()
    registry = None
    if not no_validate:
        registry = IntegrationRegistry()
        discover(registry, (*_builtin(), *settings.integrations.extra_modules))
    deadline = utc_now() + timedelta(seconds=deadline_s) if deadline_s else None
    options = {
        "version": version,
        "idempotency_key": idempotency_key,
        "deadline": deadline,
        "ordering_key": ordering_key,
    }
    try:
        result = asyncio.run(
            _publish(settings, registry, bot, integration, parsed, options, wait, timeout_s)
        )
    except (IntegrationError, ValueError) as exc:  # ValueError: a bad --bot or --ordering-key
        fail(str(exc))
    except TimeoutError:
        fail(f"no result within {timeout_s}s; is a worker running? (`make run`)", code=1)
    if result is not None:
        console.print_json(json.dumps(_result_json(result)))
        if result.status not in OK_STATUSES:
            raise typer.Exit(1)


def _builtin() -> tuple[str, ...]:
    from integrations.discovery import BUILTIN_SERVICES

    return BUILTIN_SERVICES


async def _publish(
    settings: Settings,
    registry: IntegrationRegistry | None,
    bot: str,
    integration: str,
    config: dict[str, Any],
    options: dict[str, Any],
    wait: bool,
    timeout_s: float,
) -> IntegrationResult | None:
    async with RequestPublisher.from_settings(settings, registry=registry) as publisher:
        if wait:
            return await publisher.request(bot, integration, config, timeout_s=timeout_s, **options)
        request_id = await publisher.publish(bot, integration, config, **options)
    console.print(f"published request_id={request_id} to {settings.topics.requests}")
    return None


def _result_json(result: IntegrationResult) -> dict[str, Any]:
    return {
        "request_id": str(result.request_id),
        "bot_id": result.bot_id,
        "integration_id": result.integration_id,
        "integration_version": result.integration_version,
        "status": result.status.value,
        "response": json.loads(result.response),
        "error": None if result.error is None else result.error.to_avro(),
        "attempt": result.attempt,
        "worker_id": result.worker_id,
        "latency_ms": int((result.finished_at - result.received_at).total_seconds() * 1000),
    }
