"""Prometheus metrics of a worker: events the processor counts, and gauges read at scrape time.

The processor and the outputs report events through a :class:`Metrics` object (the base class
records nothing, so code and tests that do not care pass nothing). The worker uses
:class:`PrometheusMetrics`, whose counters and histograms live in a :class:`CollectorRegistry` of
its own (never the global default one: a test process may build several workers).

State that already exists elsewhere is not mirrored on every event but read when Prometheus
scrapes: :class:`RuntimeCollector` (in-flight and parked actions from the schedulers, the
credentials cache counters, unavailable integrations) and :class:`ConsumerLagCollector` (Faust's
consumer: highwater minus committed offset per assigned partition).

Label values are bounded: an integration id the registry does not know is reported as
``unknown``; categories and statuses come from fixed sets. Never a bot id or a request id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from integrations.credentials import CredentialsStats
from integrations.errors import OutcomeCategory
from processors.executor import Execution
from schemas import ResultStatus, utc_now

log = logging.getLogger("actionstream.metrics")

UNKNOWN = "unknown"
OTHER = "other"
# Error categories: the outcome categories plus those the processor itself assigns.
CATEGORIES = frozenset(
    {c.value for c in OutcomeCategory if c is not OutcomeCategory.SUCCEEDED}
    | {"undecodable", "outcome_unknown"}
)
STATUSES = frozenset(s.value for s in ResultStatus)
EXECUTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    """What the processor and the outputs report. This base records nothing."""

    def result(self, integration_id: str, status: str, created_at: datetime) -> None:
        """One result was published (``DUPLICATE`` included)."""

    def executed(self, execution: Execution) -> None:
        """One call of an integration finished (successfully or not)."""

    def not_executed(self, integration_id: str | None, category: str) -> None:
        """A request failed without a call: expired, unknown, invalid config, undecodable."""

    def retry(self, integration_id: str, *, inline: bool) -> None:
        """Another attempt was scheduled: parked in memory (inline) or via the retry topic."""

    def dead_letter(self, integration_id: str | None, category: str) -> None:
        """A dead letter was published."""

    def rate_limit_wait(self, integration_id: str) -> None:
        """Our own rate limiter made a request wait for a slot."""

    def duplicate(self, integration_id: str) -> None:
        """A redelivered or replayed request got its stored result back."""

    def paused_wait(self, integration_id: str) -> None:
        """A request's attempt waits because an operator paused its bot."""

    def cancelled(self, integration_id: str) -> None:
        """An operator's cancel answered a request that had not started."""


NO_METRICS = Metrics()


class PrometheusMetrics(Metrics):
    """The worker's :class:`Metrics`: Prometheus counters and histograms in ``registry``.

    ``known(integration_id)`` says whether an id may be used as a label value (the worker passes
    its integration registry's membership test); anything else becomes ``unknown``.
    """

    def __init__(
        self,
        *,
        known: Callable[[str], bool] = lambda _: True,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._known = known
        self._clock = clock
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg = self.registry
        self.requests = Counter(
            "actionstream_requests", "Results published, by integration and status.",
            ["integration", "status"], registry=reg,
        )  # fmt: skip
        self.errors = Counter(
            "actionstream_errors",
            "Failed attempts and requests that could not run, by error category.",
            ["integration", "category"], registry=reg,
        )  # fmt: skip
        self.execution = Histogram(
            "actionstream_execution_seconds", "Duration of one integration call.",
            ["integration"], buckets=EXECUTION_BUCKETS, registry=reg,
        )  # fmt: skip
        self.end_to_end = Histogram(
            "actionstream_end_to_end_seconds",
            "From the request's created_at to its result on Kafka.",
            buckets=END_TO_END_BUCKETS, registry=reg,
        )  # fmt: skip
        self.retries = Counter(
            "actionstream_retries_scheduled",
            "Attempts scheduled after a failure: via=inline (parked) or topic (retry topic).",
            ["integration", "via"], registry=reg,
        )  # fmt: skip
        self.dead_letters = Counter(
            "actionstream_dead_letters", "Dead letters published, by error category.",
            ["integration", "category"], registry=reg,
        )  # fmt: skip
        self.rate_limit_waits = Counter(
            "actionstream_rate_limit_waits", "Times our rate limiter made a request wait.",
            ["integration"], registry=reg,
        )  # fmt: skip
        self.duplicates = Counter(
            "actionstream_duplicates",
            "Requests answered from the idempotency store (already executed).",
            ["integration"], registry=reg,
        )  # fmt: skip

        self.paused_waits = Counter(
            "actionstream_paused_waits",
            "Times a request's next attempt waited for its bot to be resumed (`bots pause`).",
            ["integration"], registry=reg,
        )  # fmt: skip
        self.cancellations = Counter(
            "actionstream_cancelled",
            "Requests answered CANCELLED by an operator's `bots cancel`, never executed.",
            ["integration"], registry=reg,
        )  # fmt: skip

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once: label values are few and fixed."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def watch(self, collector: Collector) -> None:
        """Add a scrape-time collector to this registry."""
        self.registry.register(collector)

    def integration(self, integration_id: str | None) -> str:
        """The label value for an integration id: itself if known, else ``unknown``."""
        return integration_id if integration_id and self._known(integration_id) else UNKNOWN

    def result(self, integration_id: str, status: str, created_at: datetime) -> None:
        status = status if status in STATUSES else OTHER
        self._child(self.requests, self.integration(integration_id), status).inc()
        elapsed = (self._clock() - created_at).total_seconds()
        self.end_to_end.observe(max(0.0, elapsed))

    def executed(self, execution: Execution) -> None:
        name = self.integration(execution.metadata.id if execution.metadata else None)
        if execution.started_at is not None:
            seconds = (execution.finished_at - execution.started_at).total_seconds()
            self._child(self.execution, name).observe(max(0.0, seconds))
        if not execution.outcome.succeeded:
            self._child(self.errors, name, _category(execution.outcome.category.value)).inc()

    def not_executed(self, integration_id: str | None, category: str) -> None:
        self._child(self.errors, self.integration(integration_id), _category(category)).inc()

    def retry(self, integration_id: str, *, inline: bool) -> None:
        via = "inline" if inline else "topic"
        self._child(self.retries, self.integration(integration_id), via).inc()

    def dead_letter(self, integration_id: str | None, category: str) -> None:
        self._child(self.dead_letters, self.integration(integration_id), _category(category)).inc()

    def rate_limit_wait(self, integration_id: str) -> None:
        self._child(self.rate_limit_waits, self.integration(integration_id)).inc()

    def duplicate(self, integration_id: str) -> None:
        self._child(self.duplicates, self.integration(integration_id)).inc()

    def paused_wait(self, integration_id: str) -> None:
        self._child(self.paused_waits, self.integration(integration_id)).inc()

    def cancelled(self, integration_id: str) -> None:
        self._child(self.cancellations, self.integration(integration_id)).inc()


def _category(category: str) -> str:
    return category if category in CATEGORIES else OTHER


# -- read at scrape time ---------------------------------------------------------------------------


class SchedulerLike(Protocol):
    """What the gauges read from an :class:`~processors.ordering.OrderedScheduler`."""

    @property
    def running(self) -> int: ...

    @property
    def parked(self) -> int: ...

    @property
    def buffered_bytes(self) -> int: ...

    @property
    def held(self) -> int: ...


def _in_flight(scheduler: SchedulerLike) -> int:
    # A parked job is still "running" in the scheduler's sense (its lane's head): not here.
    return max(0, scheduler.running - scheduler.parked)


def _parked(scheduler: SchedulerLike) -> int:
    return scheduler.parked


def _buffered_bytes(scheduler: SchedulerLike) -> int:
    return scheduler.buffered_bytes


def _held(scheduler: SchedulerLike) -> int:
    return scheduler.held


class RuntimeCollector(Collector):
    """Gauges and counters that already live in the runtime, read when Prometheus scrapes."""

    def __init__(
        self,
        schedulers: Mapping[str, SchedulerLike],
        credentials: CredentialsStats,
        unavailable: Callable[[], int],
        limits: Mapping[str, float] | None = None,
        paused_bots: Callable[[], int] = lambda: 0,
    ) -> None:
        self._schedulers = schedulers
        self._credentials = credentials
        self._unavailable = unavailable
        self._limits = dict(limits or {})
        self._paused_bots = paused_bots

    def collect(self) -> Iterator[Metric]:
        schedulers = self._schedulers.items()
        for name, help_text, value_of in (
            (
                "actionstream_in_flight",
                "Actions being handled now, per consumed topic (executing or waiting for a slot; "
                "parked ones excluded).",
                _in_flight,
            ),
            (
                "actionstream_parked_bots",
                "Bots whose next action waits (rate limit, backoff, not-before) without a slot, "
                "per consumed topic.",
                _parked,
            ),
            (
                "actionstream_buffered_bytes",
                "Bytes of the records the worker holds (running, parked or queued), per consumed "
                "topic; at ACTIONSTREAM_WORKER__MAX_BUFFERED_BYTES it stops fetching that topic.",
                _buffered_bytes,
            ),
            (
                "actionstream_paused_held",
                "Actions of paused bots waiting for `bots resume` without a slot, per consumed "
                "topic (at most ACTIONSTREAM_WORKER__MAX_IN_FLIGHT_PER_BOT per bot; the rest of "
                "their records wait queued behind them).",
                _held,
            ),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["topic"])
            for topic, scheduler in schedulers:
                gauge.add_metric([topic], value_of(scheduler))
            yield gauge
        limits = GaugeMetricFamily(
            "actionstream_limit",
            "The worker's configured bounds per consumed topic (max_in_flight, max_parked, "
            "max_buffered_bytes: ACTIONSTREAM_WORKER__*), to draw the gauges against.",
            labels=["limit", "topic"],
        )
        for limit, bound in self._limits.items():
            for topic in self._schedulers:
                limits.add_metric([limit, topic], bound)
        yield limits
        stats = self._credentials
        cache = CounterMetricFamily(
            "actionstream_credentials_cache",
            "Credentials lookups by result: local_hit, redis_hit, miss (went to the source), "
            "coalesced (joined a load in flight).",
            labels=["result"],
        )
        for result, value in (
            ("local_hit", stats.local_hits),
            ("redis_hit", stats.redis_hits),
            ("miss", stats.misses),
            ("coalesced", stats.coalesced),
        ):
            cache.add_metric([result], value)
        yield cache
        refreshes = CounterMetricFamily(
            "actionstream_oauth_refreshes",
            "OAuth token renewals by outcome: renewed (the token endpoint gave a new access "
            "token), waited (for another worker's refresh), reauth_required (the grant is gone: "
            "the bot's owner must authorise again), failed (endpoint down or refusing).",
            labels=["outcome"],
        )
        for outcome, value in (
            ("renewed", stats.tokens_renewed),
            ("waited", stats.refresh_waits),
            ("reauth_required", stats.reauth_required),
            ("failed", stats.refresh_failures),
        ):
            refreshes.add_metric([outcome], value)
        yield refreshes
        yield GaugeMetricFamily(
            "actionstream_bots_paused",
            "Bots an operator paused (`actionstream bots pause`), as the commands topic says.",
            value=self._paused_bots(),
        )
        yield GaugeMetricFamily(
            "actionstream_integrations_unavailable",
            "Services whose integrations cannot run here (missing library); see "
            "`actionstream integrations list`.",
            value=self._unavailable(),
        )


class ConsumerLagCollector(Collector):
    """``actionstream_consumer_lag{topic,partition}``: highwater minus committed offset.

    ``consumer`` returns Faust's consumer (or ``None`` before there is one). Only the partitions
    assigned to this worker are reported, and only once their committed offset is known (an empty
    partition reports 0). The highwater is the one the consumer last fetched.
    """

    def __init__(self, consumer: Callable[[], Any]) -> None:
        self._consumer = consumer

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "actionstream_consumer_lag",
            "Records of an assigned partition not committed yet by this worker's group.",
            labels=["topic", "partition"],
        )
        for topic, partition, value in self.lags():
            lag.add_metric([topic, str(partition)], value)
        yield lag

    def lags(self) -> Iterable[tuple[str, int, int]]:
        consumer = self._consumer()
        if consumer is None:
            return []
        try:
            assignment = consumer.assignment()
        except Exception as exc:  # not started yet, or stopping
            log.debug("no consumer assignment to report lag for: %r", exc)
            return []
        # Faust keeps the offsets it committed (and the ones it found at assignment) here; an
        # offset of 0 is stored as None.
        committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
        lags = []
        for tp in sorted(assignment):
            try:
                highwater = consumer.highwater(tp)
            except Exception as exc:  # the partition was revoked meanwhile
                log.debug("no highwater for %s: %r", tp, exc)
                continue
            if highwater is None:
                continue
            offset = committed.get(tp)
            if offset is None and highwater > 0:
                continue
            lags.append((tp.topic, tp.partition, max(0, highwater - (offset or 0))))
        return lags
