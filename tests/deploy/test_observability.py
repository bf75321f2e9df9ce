"""deploy/grafana and deploy/prometheus: the dashboard and the alert rules stay true to the worker.

* Every metric and label a dashboard query or an alert expression names is in a real worker's
  ``/metrics`` after a short run (a worker subprocess on the real broker and Redis, driven through
  ``support.pipeline``), so renaming a metric or a label breaks this test. Expressions are parsed
  with a PromQL parser (``promql_parser``) and walked: selectors, ``by``/``without``, ``on``/
  ``ignoring``. Labels Prometheus adds to every scrape (``job``, ``instance``) and the few metrics
  of other exporters (:data:`EXTERNAL`) are allowed by name.
* The rules file passes ``promtool check rules`` and its unit tests (``promtool test rules``);
  ``deploy/prometheus/promtool.sh`` fetches promtool by package name when it is not installed.
* The PrometheusRule is exactly what ``render-prometheusrule.sh`` makes of the rules file.
* The dashboard follows Grafana's JSON conventions (unique ids, the datasource variable on every
  panel and target, a grid position, a unit and a description).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infra import REPO
from processors.metrics import CATEGORIES, STATUSES
from processors.settings import TopicSettings
from support.pipeline import Pipeline, running_pipeline

PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS / "actionstream-rules.yaml"
RULES_TESTS = PROMETHEUS / "actionstream-rules.test.yaml"
PROMETHEUS_RULE = PROMETHEUS / "actionstream-prometheusrule.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "actionstream-dashboard.json"
K8S = REPO / "deploy" / "k8s"

# Labels every scrape target gets from Prometheus itself (the worker exports none naming itself).
TARGET_LABELS = frozenset({"job", "instance"})
# Metrics the worker does not export, with the labels the queries may use on them.
EXTERNAL: dict[str, frozenset[str]] = {
    "up": frozenset(),  # Prometheus: the scrape answered
    # kube-state-metrics: the pod's Ready condition, which follows the kubelet's /readyz probe.
    "kube_pod_status_ready": frozenset({"namespace", "pod", "condition"}),
    # redis_exporter's standard memory gauges.
    "redis_memory_used_bytes": frozenset(),
    "redis_memory_max_bytes": frozenset(),
}
# Label values a query may name before a short run produces them (every status, every category).
KNOWN_VALUES: dict[str, frozenset[str]] = {"status": STATUSES, "category": CATEGORIES}
# What README.md ("Observability") says to alert on, and the rules that do it.
README_ALERTS = {
    "FAILED share per integration": {"ActionstreamFailedShareHigh"},
    "any OUTCOME_UNKNOWN": {"ActionstreamOutcomeUnknown"},
    "any dead letter": {"ActionstreamDeadLetters"},
    "end-to-end p99": {"ActionstreamEndToEndLatencyHigh"},
    "requests topic lag keeps growing": {"ActionstreamRequestsLagGrowing"},
    "/readyz failing for minutes": {"ActionstreamWorkerNotReady", "ActionstreamWorkerDown"},
    "Redis memory near maxmemory": {
        "ActionstreamRedisMemoryNearMax",
        "ActionstreamRedisMemoryFull",
    },
    "integrations unavailable > 0": {"ActionstreamIntegrationsUnavailable"},
    "OAuth reauth_required": {"ActionstreamOAuthReauthRequired"},
}
SEVERITIES = {"critical", "warning", "info"}
# Grafana's interval variables, as a duration the parser accepts.
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


# -- the files -------------------------------------------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml(RULES)["groups"] for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _grafana_expr(expr: str, variables: dict[str, dict[str, Any]]) -> str:
    """A dashboard query as Prometheus receives it: interval variables as durations, textbox
    variables as their value, and multi-value variables (only ever inside ``=~"…"``) as ``.*``."""
    for name, duration in GRAFANA_INTERVALS.items():
        expr = expr.replace(name, duration)

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"query uses ${name}, which the dashboard does not define"
        variable = variables[name]
        return str(variable["query"]) if variable["type"] == "textbox" else ".*"

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_queries() -> list[tuple[str, str]]:
    """``(where, expr)`` of every panel target, as Prometheus would get it."""
    dashboard = _dashboard()
    variables = _variables(dashboard)
    return [
        (f"panel {panel['title']!r} {target['refId']}", _grafana_expr(target["expr"], variables))
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def rule_queries() -> list[tuple[str, str]]:
    return [(f"alert {rule['alert']}", rule["expr"]) for rule in _rules()]


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def variable_queries() -> list[tuple[str, str, str]]:
    """``(where, selector, label)`` of every ``label_values(selector, label)`` variable."""
    found = []
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["definition"])
        assert match, f"variable {variable['name']}: not a label_values() query"
        assert variable["query"]["query"] == variable["definition"], variable["name"]
        found.append((f"variable {variable['name']}", match["selector"], match["label"]))
    return found


# -- what an expression names ------------------------------------------------------------------


@dataclass
class Uses:
    """What one PromQL expression names: its selectors and the labels it groups or matches by."""

    selectors: list[tuple[str, list[promql_parser.Matcher]]] = field(default_factory=list)
    # (labels, the metrics under the aggregation or binary operation that names them)
    groupings: list[tuple[list[str], set[str]]] = field(default_factory=list)


def uses(expr: str) -> Uses:
    found = Uses()
    _walk(promql_parser.parse(expr), found)
    return found


def _walk(node: Any, found: Uses) -> set[str]:
    """Record what ``node`` names into ``found``; return the metric names under it."""
    if isinstance(node, promql_parser.MatrixSelector):
        return _walk(node.vector_selector, found)
    if isinstance(node, promql_parser.VectorSelector):
        matchers = list(node.matchers.matchers)
        name = node.name or next(m.value for m in matchers if m.name == "__name__")
        found.selectors.append((name, matchers))
        return {name}
    if isinstance(node, promql_parser.AggregateExpr):
        metrics = _walk(node.expr, found)
        if node.param is not None:
            _walk(node.param, found)
        if node.modifier is not None:
            found.groupings.append((list(node.modifier.labels), metrics))
        return metrics
    if isinstance(node, promql_parser.BinaryExpr):
        metrics = _walk(node.lhs, found) | _walk(node.rhs, found)
        modifier = node.modifier
        if modifier is not None:
            if modifier.matching is not None:
                found.groupings.append((list(modifier.matching.labels), metrics))
            if modifier.group_labels:
                found.groupings.append((list(modifier.group_labels), metrics))
        return metrics
    if isinstance(node, promql_parser.Call):
        under: set[str] = set()
        for arg in node.args:
            under |= _walk(arg, found)
        return under
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return _walk(node.expr, found)
    if isinstance(node, promql_parser.SubqueryExpr):
        return _walk(node.expr, found)
    assert isinstance(node, promql_parser.NumberLiteral | promql_parser.StringLiteral), node
    return set()


def test_the_expression_walker_sees_selectors_and_groupings() -> None:
    found = uses(
        'sum by (job, integration) (rate(a_total{status="FAILED"}[5m])) / on (job) '
        "group_left (instance) max without (le) (b) or histogram_quantile(0.5, c_bucket) "
        "and deriv((sum by (topic) (d))[10m:1m])"
    )
    assert [name for name, _ in found.selectors] == ["a_total", "b", "c_bucket", "d"]
    assert [m.name for m in found.selectors[0][1]] == ["status"]
    groupings = [(sorted(labels), sorted(metrics)) for labels, metrics in found.groupings]
    assert (["integration", "job"], ["a_total"]) in groupings
    assert (["job"], ["a_total", "b"]) in groupings
    assert (["instance"], ["a_total", "b"]) in groupings
    assert (["le"], ["b"]) in groupings
    assert (["topic"], ["d"]) in groupings


# -- a real worker's /metrics --------------------------------------------------------------------


@dataclass(frozen=True)
class Scrape:
    """Sample names of one ``/metrics`` scrape, with the label names and values each carries."""

    labels: dict[str, set[str]]
    values: dict[tuple[str, str], set[str]]
    topics: TopicSettings

    def known(self, name: str) -> bool:
        return name in self.labels or name in EXTERNAL

    def label_names(self, name: str) -> set[str]:
        return set(self.labels.get(name) or EXTERNAL.get(name, frozenset()))


def parse_scrape(text: str, topics: TopicSettings) -> Scrape:
    labels: dict[str, set[str]] = defaultdict(set)
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
            for label, value in sample.labels.items():
                values[(sample.name, label)].add(value)
    return Scrape(dict(labels), dict(values), topics)


async def _scrape_after_a_run(pipeline: Pipeline) -> str:
    """A short run that reaches every metric the views use: successes, a 429 retried inline, a
    request that waits for the rate limiter, a replayed duplicate, and an unknown integration
    (FAILED and dead-lettered)."""
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    await pipeline.worker.astart()
    publisher, send = pipeline.publisher, "telegram_send_message"
    pipeline.fake.inject("rate_limit", chat_id=7000, retry_after=1)
    for chat in (7000, 7001, 7001):  # the 429, then two to one chat: Telegram's 1/s per chat
        await publisher.publish(bot, send, {"chat_id": chat, "text": "hi"})
    replayed = publisher.build(bot, send, {"chat_id": 7002, "text": "once"})
    await publisher.send(replayed)
    await publisher.publish(bot, "nosuch_action", {})
    await pipeline.results(5)
    await publisher.send(replayed)
    await pipeline.results(6)
    await pipeline.dead_letters(1)
    port = pipeline.settings.worker.web_port
    # Counters move right after a result is published, and a partition's lag shows once the
    # group committed on it: wait for both (a loaded machine can take a while for the lag).
    awaited = ("actionstream_duplicates_total{", f'topic="{pipeline.settings.topics.requests}"')
    deadline = asyncio.get_running_loop().time() + 60
    async with httpx.AsyncClient() as client:
        while True:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status_code == 200
            missing = [s for s in awaited if s not in response.text]
            if not missing:
                return response.text
            assert asyncio.get_running_loop().time() < deadline, (missing, response.text)
            await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
def scrape(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Scrape:
    """One worker run for the whole module (a sync fixture running its own event loop)."""
    tmp_path = tmp_path_factory.mktemp("observability")
    unique = uuid.uuid4().hex[:10]

    async def run() -> Scrape:
        async with running_pipeline(kafka_bootstrap, redis_url, tmp_path, unique) as pipeline:
            text = await _scrape_after_a_run(pipeline)
            return parse_scrape(text, pipeline.settings.topics)

    return asyncio.run(run())


def _problems_of(where: str, expr: str, scrape: Scrape) -> list[str]:
    problems = []
    found = uses(expr)
    for name, matchers in found.selectors:
        if not scrape.known(name):
            problems.append(f"{where}: no metric {name!r} in the worker's /metrics")
            continue
        allowed = scrape.label_names(name) | TARGET_LABELS
        for matcher in matchers:
            label = matcher.name
            if label == "__name__":
                continue
            if label not in allowed:
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(allowed)})")
                continue
            if name in EXTERNAL or label in TARGET_LABELS:
                continue
            seen = scrape.values.get((name, label), set())
            if matcher.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual):
                if matcher.value not in seen | KNOWN_VALUES.get(label, frozenset()):
                    problems.append(
                        f"{where}: {name}{{{label}={matcher.value!r}}}: no such value "
                        f"(seen {sorted(seen)})"
                    )
            elif not any(re.fullmatch(matcher.value, v) for v in seen):
                problems.append(
                    f"{where}: {name}{{{label}=~{matcher.value!r}}} matches none of {sorted(seen)}"
                )
    for labels, metrics in found.groupings:
        allowed = set(TARGET_LABELS)
        for name in metrics:
            allowed |= scrape.label_names(name)
        for label in labels:
            if label not in allowed:
                problems.append(
                    f"{where}: groups by {label!r}, which none of {sorted(metrics)} carries"
                )
    return problems


def test_every_metric_and_label_of_the_views_is_exported(scrape: Scrape) -> None:
    problems = []
    queries = dashboard_queries() + rule_queries()
    assert len(queries) > 30
    for where, expr in queries:
        problems += _problems_of(where, expr, scrape)
    for where, selector, label in variable_queries():
        problems += _problems_of(where, selector, scrape)
        (name,) = {name for name, _ in uses(selector).selectors}
        if label not in scrape.label_names(name) | TARGET_LABELS:
            problems.append(f"{where}: {name} has no label {label!r}")
    assert problems == []


def test_a_renamed_metric_or_label_is_caught(scrape: Scrape) -> None:
    # The check itself: what a rename in processors/metrics.py would look like to it.
    renamed = 'sum by (integration) (rate(actionstream_request_total{status="FAILED"}[5m]))'
    assert _problems_of("renamed metric", renamed, scrape)
    relabelled = "sum by (service) (rate(actionstream_requests_total[5m]))"
    assert _problems_of("renamed label", relabelled, scrape)
    value = 'actionstream_oauth_refreshes_total{outcome="reauthorise"}'
    assert _problems_of("renamed value", value, scrape)
    good = 'sum by (integration) (rate(actionstream_requests_total{status="FAILED"}[5m]))'
    assert _problems_of("as exported", good, scrape) == []


def test_the_lag_alert_watches_the_requests_topic_only(scrape: Scrape) -> None:
    (rule,) = [r for r in _rules() if r["alert"] == "ActionstreamRequestsLagGrowing"]
    patterns = {
        m.value
        for name, matchers in uses(rule["expr"]).selectors
        for m in matchers
        if name == "actionstream_consumer_lag" and m.name == "topic"
    }
    assert len(patterns) == 1
    (pattern,) = patterns
    configmap = _yaml(K8S / "configmap.yaml")["data"]
    deployed = TopicSettings(
        requests=configmap["ACTIONSTREAM_TOPICS__REQUESTS"],
        results=configmap["ACTIONSTREAM_TOPICS__RESULTS"],
        retry=configmap["ACTIONSTREAM_TOPICS__RETRY"],
        dlq=configmap["ACTIONSTREAM_TOPICS__DLQ"],
    )
    for topics in (deployed, TopicSettings(), scrape.topics):
        assert re.fullmatch(pattern, topics.requests), topics.requests
        for other in (topics.retry, topics.results, topics.dlq):
            assert not re.fullmatch(pattern, other), other


# -- the rules -----------------------------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PROMETHEUS / "promtool.sh"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_the_rules_fire_when_they_should() -> None:
    # deploy/prometheus/actionstream-rules.test.yaml: each alert on made-up series.
    done = promtool("test", "rules", str(RULES_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r'alertname="(\w+)"', RULES_TESTS.read_text()))
    assert tested == {rule["alert"] for rule in _rules()}, "every alert has a unit test"


def test_promtool_accepts_the_dashboard_queries(tmp_path: Path) -> None:
    # Prometheus' own parser on the dashboard's queries too: as recording rules of a scratch file.
    rules = [
        {"record": f"dashboard:query{n}", "expr": e} for n, (_, e) in enumerate(dashboard_queries())
    ]
    scratch = tmp_path / "dashboard-queries.yaml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool("check", "rules", str(scratch))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_expression_parses_as_promql() -> None:
    for where, expr in rule_queries() + dashboard_queries():
        try:
            promql_parser.parse(expr)
        except Exception as exc:
            pytest.fail(f"{where}: {exc}\n{expr}")


def test_the_rules_are_exactly_what_the_readme_asks_for() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) == set().union(*README_ALERTS.values())
    for rule in rules:
        name = rule["alert"]
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook"} <= set(annotations), name
        assert "`actionstream " in annotations["runbook"], f"{name}: no actionstream command"


def test_the_prometheusrule_is_rendered_from_the_rules_file() -> None:
    done = subprocess.run(
        ["bash", str(PROMETHEUS / "render-prometheusrule.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == PROMETHEUS_RULE.read_text(), (
        "actionstream-prometheusrule.yaml is stale: run `bash deploy/prometheus/"
        "render-prometheusrule.sh > deploy/prometheus/actionstream-prometheusrule.yaml`"
    )
    rule = _yaml(PROMETHEUS_RULE)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["namespace"] == _yaml(K8S / "kustomization.yaml")["namespace"]
    assert rule["spec"]["groups"] == _yaml(RULES)["groups"]


def test_readiness_selectors_name_the_deployed_pods() -> None:
    namespace = _yaml(K8S / "kustomization.yaml")["namespace"]
    deployment = _yaml(K8S / "deployment.yaml")["metadata"]["name"]
    pod = f"{deployment}-5d9f8c7b6d-x2kqp"  # how a Deployment names its pods
    expressions = rule_queries() + dashboard_queries()
    checked = 0
    for where, expr in expressions:
        for name, matchers in uses(expr).selectors:
            if name != "kube_pod_status_ready":
                continue
            checked += 1
            by_label = {m.name: m.value for m in matchers}
            assert by_label["namespace"] == namespace, where
            assert re.fullmatch(by_label["pod"], pod), where
            assert not re.fullmatch(by_label["pod"], f"{deployment}x-1"), where
            assert by_label["condition"] == "true", where
    assert checked >= 2


# -- the dashboard -------------------------------------------------------------------------------


def test_the_dashboard_follows_grafanas_conventions() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    assert dashboard["id"] is None, "an exported dashboard carries no database id"
    assert {"type": "datasource", "id": "prometheus"}.items() <= next(
        r for r in dashboard["__requires"] if r["type"] == "datasource"
    ).items()
    variables = _variables(dashboard)
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    for name in ("job", "worker", "integration"):
        assert variables[name]["type"] == "query", name
        assert variables[name]["datasource"] == datasource, name
    panels = list(_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        title = panel["title"]
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid), title
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, title
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"{title} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == datasource, title
        assert panel["description"].strip(), title
        assert panel["fieldConfig"]["defaults"]["unit"], title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["datasource"] == datasource, title
            assert target["expr"].strip(), title
            assert target["refId"], title


def test_the_dashboard_has_the_rows_the_issue_asks_for() -> None:
    text = " ".join(expr for _, expr in dashboard_queries())
    for metric in (
        "actionstream_requests_total",
        "actionstream_end_to_end_seconds_bucket",
        "actionstream_execution_seconds_bucket",
        "actionstream_consumer_lag",
        "actionstream_in_flight",
        "actionstream_parked_bots",
        "actionstream_dead_letters_total",
        "actionstream_retries_scheduled_total",
        "actionstream_rate_limit_waits_total",
        "actionstream_credentials_cache_total",
        "actionstream_oauth_refreshes_total",
        "actionstream_integrations_unavailable",
        "up{",
        "kube_pod_status_ready",
    ):
        assert metric in text, metric
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, " in text


def test_the_capacity_panels_draw_each_gauge_against_its_exported_limit() -> None:
    # The worker exports its bounds (actionstream_limit{limit,topic}); the dashboard draws them,
    # so a changed ACTIONSTREAM_WORKER__* shows up without editing the dashboard.
    text = " ".join(expr for _, expr in dashboard_queries())
    for limit in ("max_in_flight", "max_parked", "max_buffered_bytes"):
        assert f'actionstream_limit{{limit="{limit}"' in text, limit
    assert not [v for v in _variables(_dashboard()).values() if v["type"] == "textbox"]
