"""docker-compose.yml cannot run here (no Docker engine); keep it valid and true to the settings.

What `docker compose up` must give: Kafka and Redis (each usable alone, as deploy/local/stack.sh
starts them), a one-shot `topics apply`, and two workers that start only after it succeeded,
configured by ACTIONSTREAM_* names the settings model reads, stopped no faster than they drain.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra import REPO
from support.settings_names import setting_default, setting_exists, unknown_settings

COMPOSE_FILE = REPO / "docker-compose.yml"
# Faust's own stop after the drain: final commit, leaving the group, flushing the producer, the
# web server. About 3 s for an idle worker; the grace period must leave at least this much.
FAUST_STOP_ALLOWANCE_S = 10.0
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _uses_our_image(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile"


def _workers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services running `actionstream worker` (the image's default command)."""
    return {
        name: s
        for name, s in services.items()
        if _uses_our_image(s) and s.get("command", ["worker"]) == ["worker"]
    }


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):  # the `- NAME=value` form
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def _resolved(value: str) -> str:
    """A value as Compose interpolates it when the variables are unset: their defaults."""
    return _INTERPOLATION.sub(lambda m: m["default"] or "", value)


def _seconds(duration: str) -> float:
    """A Compose duration (``45s``, ``1m30s``, ``500ms``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def _setting(env: dict[str, str], name: str) -> str:
    return _resolved(env[name]) if name in env else str(setting_default(name))


def test_every_actionstream_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    ours = {n: s for n, s in services.items() if _uses_our_image(s)}
    assert ours
    for name, service in ours.items():
        env = _env(service)
        assert any(k.startswith("ACTIONSTREAM_") for k in env), name
        unknown = unknown_settings(env)
        assert unknown == [], f"{name} sets variables the settings model does not read: {unknown}"


def test_kafka_and_redis_run_alone_on_the_ports_the_stack_script_expects(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka, redis = services["kafka"], services["redis"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert "broker,controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    # `docker compose up -d kafka redis` must not pull in anything else.
    assert "depends_on" not in kafka
    assert "depends_on" not in redis
    assert "healthcheck" in kafka
    assert "healthcheck" in redis
    # deploy/local/stack.sh waits for 127.0.0.1:$KAFKA_PORT / $REDIS_PORT (defaults 9092 / 6379).
    assert [_resolved(p) for p in kafka["ports"]] == ["127.0.0.1:9092:9092"]
    assert [_resolved(p) for p in redis["ports"]] == ["127.0.0.1:6379:6379"]
    advertised = _resolved(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    assert "127.0.0.1:9092" in advertised, "host clients must be sent back to the published port"


def test_topics_are_applied_by_a_one_shot_service(services: dict[str, dict[str, Any]]) -> None:
    topics = services["topics"]
    assert _uses_our_image(topics)
    assert topics["command"] == ["topics", "apply"]
    assert topics["restart"] == "no"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    # The image's HEALTHCHECK probes a worker's web server; this container runs none.
    assert topics["healthcheck"] == {"disable": True}


def test_two_workers_start_after_the_topics_exist(services: dict[str, dict[str, Any]]) -> None:
    workers = _workers(services)
    assert sorted(workers) == ["worker-1", "worker-2"]
    for name, worker in workers.items():
        depends = worker["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully", name
        assert depends["kafka"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_workers_share_a_group_but_not_an_id_or_a_host_port(
    services: dict[str, dict[str, Any]],
) -> None:
    workers = _workers(services)
    envs = {name: _env(w) for name, w in workers.items()}
    ids = {_setting(env, "ACTIONSTREAM_WORKER__ID") for env in envs.values()}
    assert len(ids) == len(workers), f"worker ids must differ: {ids}"
    groups = {_setting(env, "ACTIONSTREAM_KAFKA__CONSUMER_GROUP") for env in envs.values()}
    assert len(groups) == 1
    host_ports = [_resolved(p).rsplit(":", 1)[0] for w in workers.values() for p in w["ports"]]
    assert len(set(host_ports)) == len(host_ports)
    topics_env = _env(services["topics"])
    for env in envs.values():
        for name in ("ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS", "ACTIONSTREAM_TOPICS__REQUESTS"):
            assert _setting(env, name) == _setting(topics_env, name)


def test_workers_serve_metrics_on_every_interface(services: dict[str, dict[str, Any]]) -> None:
    for name, worker in _workers(services).items():
        env = _env(worker)
        assert env["ACTIONSTREAM_WORKER__WEB_HOST"] == "0.0.0.0", name
        port = _setting(env, "ACTIONSTREAM_WORKER__WEB_PORT")
        assert [_resolved(p).rsplit(":", 1)[1] for p in worker["ports"]] == [port], name


def test_workers_get_longer_to_stop_than_they_drain(services: dict[str, dict[str, Any]]) -> None:
    for name, worker in _workers(services).items():
        drain = float(_setting(_env(worker), "ACTIONSTREAM_WORKER__DRAIN_TIMEOUT_S"))
        grace = _seconds(worker["stop_grace_period"])
        assert grace >= drain + FAUST_STOP_ALLOWANCE_S, (name, grace, drain)


def test_workers_share_an_encryption_key_that_has_no_default(
    services: dict[str, dict[str, Any]],
) -> None:
    keys = set()
    for name, worker in _workers(services).items():
        env = _env(worker)
        assert "ACTIONSTREAM_DEV_MODE" not in env or env["ACTIONSTREAM_DEV_MODE"] == "false"
        raw = env["ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY"]
        # ${VAR:?message}: compose refuses to start without it; a shipped default would give
        # every deployment the same key.
        assert raw.startswith("${ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY:?"), (
            f"{name}: the key must come from the shell or .env, with no default"
        )
        keys.add(raw)
    assert len(keys) == 1, "every worker must hold the same key"


def test_setting_names_are_checked_through_nested_models_and_dicts() -> None:
    assert setting_exists("ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS")
    assert setting_exists("ACTIONSTREAM_DEV_MODE")
    assert setting_exists("ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL")
    assert setting_exists("ACTIONSTREAM_SCHEMA_REGISTRY__PASSWORD")
    assert not setting_exists("ACTIONSTREAM_KAFKA__BOOTSTRAP")
    assert not setting_exists("ACTIONSTREAM_DEV_MODE__X")
    assert not setting_exists("ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__URL")
    assert not setting_exists("KAFKA__BOOTSTRAP_SERVERS")
    assert unknown_settings(
        ["PATH", "ACTIONSTREAM_CRED__BOT__TELEGRAM__API_KEY", "ACTIONSTREAM_WORKER__PORT"]
    ) == ["ACTIONSTREAM_WORKER__PORT"]
    assert setting_default("ACTIONSTREAM_WORKER__DRAIN_TIMEOUT_S") == 20.0
    assert setting_default("ACTIONSTREAM_TOPICS__PARTITIONS") == 6
