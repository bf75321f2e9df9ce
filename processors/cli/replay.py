"""``actionstream replay``: republish failed actions from the DLQ or the results topic."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from processors.cli.audit import (
    Bots,
    Categories,
    Integrations,
    Since,
    Statuses,
    Until,
    build_filter,
    kafka_errors,
    load_registry,
    progress_bar,
    short_time,
    window,
)
from processors.cli.common import console, errors, fail, load_settings
from schemas import ResultStatus
from topics.publisher import RequestPublisher
from topics.replay import (
    DEFAULT_LOOKBACK,
    REPLAYABLE_STATUSES,
    ReplayItem,
    ReplayPlan,
    ReplayPlanner,
    ReplaySource,
    Verdict,
    publish_replays,
)
from topics.timerange import TimeRangeError, parse_duration

_SHOWN = 10  # record positions listed per reason
_MESSAGE_CHARS = 80  # the error column: enough to recognise it; audit export has it whole
_ACTION = {
    Verdict.REPLAY: "[green]replay",
    Verdict.REFUSED: "[yellow]refused",
    Verdict.UNDECODABLE: "[red]undecodable",
    Verdict.NOT_FOUND: "[red]not found",
}


def replay(
    since: Since,
    until: Until = None,
    source: Annotated[
        ReplaySource,
        typer.Option("--source", help="dlq (original bytes, kept 30 days) or results"),
    ] = ReplaySource.DLQ,
    bot: Bots = None,
    integration: Integrations = None,
    error_category: Categories = None,
    status: Statuses = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="replay at most the N oldest matches")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be replayed; change nothing")
    ] = False,
    allow_side_effects: Annotated[
        bool,
        typer.Option(
            "--allow-side-effects",
            help="also replay non_idempotent integrations (a second message, payment…)",
        ),
    ] = False,
    new_idempotency_key: Annotated[
        bool,
        typer.Option(
            "--new-idempotency-key",
            help="run each request again even if it in fact succeeded (default: keep the key, "
            "so a request that succeeded answers DUPLICATE)",
        ),
    ] = False,
    lookback: Annotated[
        str,
        typer.Option(
            "--lookback",
            help="--source results: how long before its result a request may have been "
            "published (30m, 2h)",
        ),
    ] = "1h",
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="a new deadline for each replay, e.g. 10m (default: none)"),
    ] = None,
) -> None:
    """Republish failed requests: from the DLQ, or FAILED, EXPIRED and
    OUTCOME_UNKNOWN results.

    A replay is the original request, keyed by its bot_id, with the same
    request_id, attempt 1, no not_before or deadline (--deadline sets a new
    one), and a replay-of header naming the record it replays:
    dlq:<topic>:<partition>:<offset> or results:<topic>:<partition>:<offset>.

    It keeps the idempotency key: a request that in fact succeeded answers
    DUPLICATE without running twice. --new-idempotency-key runs it again.
    Without --allow-side-effects a request is replayed only when no attempt
    may have had its effect (none reached the provider, or it refused), when
    the integration has no side effect, or when it is idempotent and younger
    than its provider's idempotency window (Stripe, YooKassa: 24 h); the dry
    run says which, for each.

    With --source results, each request is looked up by request_id on the
    requests topic, which must still hold it (7 days by default): older ones
    are listed as "not found"; replay those from the DLQ.

    It reads with its own consumer, outside any group: the workers' offsets
    never move.

    Examples:

        actionstream replay --since 2h --dry-run
        actionstream replay --since 1d --bot bot-42 --allow-side-effects
        actionstream replay --since 2024-05-01T08:00Z --until 2024-05-01T09:00Z \\
            --integration openweathermap_current_weather \\
            --error-category transient
        actionstream replay --source results --status EXPIRED --since 30m \\
            --limit 100

    Exit code: 0 when every match was (with --dry-run: would be) replayed;
    1 when some were refused, undecodable or not found, or Kafka failed;
    2 for bad options.
    """
    settings = load_settings()
    allowed = frozenset(REPLAYABLE_STATUSES)
    filters = build_filter(
        settings, bot, integration, error_category, status, allowed_statuses=allowed
    )
    start, end = window(since, until)
    try:
        lookback_delta = parse_duration(lookback) if lookback else DEFAULT_LOOKBACK
        deadline_delta = parse_duration(deadline) if deadline else None
    except TimeRangeError as exc:
        fail(str(exc))
    planner = ReplayPlanner(settings, load_registry(settings))

    async def run() -> tuple[ReplayPlan, int]:
        with progress_bar("reading") as update:
            plan = await planner.plan(
                source, since=start, until=end, filters=filters, limit=limit,
                allow_side_effects=allow_side_effects, lookback=lookback_delta, progress=update,
            )  # fmt: skip
        todo = plan.to_replay
        if dry_run or not todo:
            return plan, 0
        published = 0

        def count(*_: object) -> None:
            nonlocal published
            published += 1
            update("publish", published, len(todo))

        try:
            with progress_bar("replaying") as update:
                async with RequestPublisher.from_settings(settings) as publisher:
                    await publish_replays(
                        todo, publisher, new_idempotency_key=new_idempotency_key,
                        deadline=deadline_delta, on_published=count,
                    )  # fmt: skip
        except BaseException:
            # The ones already published will run: say how far it got before the error.
            errors.print(f"[red]stopped after publishing {published} of {len(todo)} replays")
            raise
        return plan, published

    topic = settings.topics.dlq if source is ReplaySource.DLQ else settings.topics.results
    until_text = "now" if end is None else end.isoformat(timespec="seconds")
    assert start is not None  # --since is required
    errors.print(f"reading {topic} from {start.isoformat(timespec='seconds')} to {until_text}",
                 highlight=False)  # fmt: skip
    with kafka_errors(settings):
        plan, replayed = asyncio.run(run())
    _report(plan, replayed, dry_run=dry_run, new_key=new_idempotency_key)
    if len(plan.to_replay) < len(plan.items):
        raise typer.Exit(1)


def _report(plan: ReplayPlan, replayed: int, *, dry_run: bool, new_key: bool) -> None:
    shown = plan.items if dry_run else [i for i in plan.items if i.verdict is not Verdict.REPLAY]
    if shown:
        console.print(_table(shown))
    # One line per distinct reason, with where the records are (what an operator looks up next);
    # a dry run also says why each replay would go ahead.
    groups: dict[tuple[Verdict, str], list[str]] = {}
    for item in shown:
        if item.reason and (dry_run or item.verdict is not Verdict.REPLAY):
            groups.setdefault((item.verdict, item.reason), []).append(item.replay_of)
    for (verdict, reason), where in groups.items():
        more = f" and {len(where) - _SHOWN} more" if len(where) > _SHOWN else ""
        console.print(f"{verdict.value} ({len(where)}): {reason}\n  at {', '.join(where[:_SHOWN])}"
                      f"{more}", highlight=False, markup=False)  # fmt: skip
    todo = plan.to_replay
    unknown = [i for i in todo if i.status is ResultStatus.OUTCOME_UNKNOWN]
    if new_key and todo:
        console.print(f"[yellow]{len(todo)} request(s) get a new idempotency key: each runs "
                      "again, even one that in fact succeeded")  # fmt: skip
    elif unknown:
        console.print(f"[yellow]{len(unknown)} OUTCOME_UNKNOWN request(s) keep their key: the "
                      "worker answers DUPLICATE with the stored unknown outcome; check with the "
                      "provider, then replay them with --new-idempotency-key")  # fmt: skip
    verb = "would replay" if dry_run else "replayed"
    count = len(todo) if dry_run else replayed
    parts = [
        f"read {plan.read}",
        f"matched {plan.matched}",
        f"{verb} {count}",
        f"refused {len(plan.with_verdict(Verdict.REFUSED))}",
        f"undecodable {len(plan.with_verdict(Verdict.UNDECODABLE))}",
    ]
    if plan.source is ReplaySource.RESULTS:
        parts.append(f"not found {len(plan.with_verdict(Verdict.NOT_FOUND))}")
    if plan.repeats:
        parts.append(f"earlier failures of the same request {plan.repeats}")
    if plan.beyond_limit:
        parts.append(f"beyond --limit {plan.beyond_limit}")
    console.print(("dry run: " if dry_run else "") + ", ".join(parts), highlight=False)


def _table(items: list[ReplayItem]) -> Table:
    table = Table("time (UTC)", "bot", "integration", "status", "error", "request_id", "action")
    table.columns[5].no_wrap = True
    table.columns[5].min_width = 36  # a request_id is what one copies from here: keep it whole
    for item in items:
        message = item.error_message
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 1] + "…"
        error = f"{item.error_category or '-'}: {message}"
        table.add_row(
            short_time(item.timestamp), item.bot_id or "?", item.integration_id or "?",
            item.status.value, error, item.request_id or "-", _ACTION[item.verdict],
        )  # fmt: skip
    return table
