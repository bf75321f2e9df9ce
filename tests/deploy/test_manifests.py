"""deploy/k8s: no cluster here, so check that the manifests parse and agree with each other.

The ConfigMap is the source of truth for settings; the Deployment's probes and ports, its grace
period, the Service, and KEDA's trigger and replica bounds must match what it (or, for names it
leaves out, the settings model's defaults) says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import REPO
from support.settings_names import setting_default, unknown_settings

K8S = REPO / "deploy" / "k8s"
FAUST_STOP_ALLOWANCE_S = 10.0  # see tests/deploy/test_compose.py
# Objects beside the one of each kind the tests read: KEDA's login settings (not worker settings).
AUXILIARY = {"actionstream-keda-kafka"}
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path.name} holds no document"
    return docs


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """Every manifest object by kind (one of each kind here), and the auxiliary ones (KEDA's
    ConfigMap) as ``kind/name``."""
    found: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in _documents(path):
            name = doc["metadata"]["name"]
            key = f"{doc['kind']}/{name}" if name in AUXILIARY else doc["kind"]
            assert key not in found, f"a second {doc['kind']} in {path.name}"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def config(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    data = objects["ConfigMap"]["data"]
    assert isinstance(data, dict)
    return data


def _setting(config: dict[str, str], name: str) -> str:
    return config[name] if name in config else str(setting_default(name))


def _pod_spec(objects: dict[str, dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    spec = objects[kind]["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def _worker(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod_spec(objects)["containers"]
    assert isinstance(container, dict)
    return container


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, resolving a container port name."""
    if isinstance(port, int):
        return port
    (match,) = [p for p in container["ports"] if p.get("name") == port]
    return int(match["containerPort"])


@pytest.mark.parametrize("path", [*MANIFESTS, K8S / "kustomization.yaml"], ids=lambda p: p.name)
def test_every_manifest_parses(path: Path) -> None:
    for doc in _documents(path):
        assert doc.get("apiVersion") and doc.get("kind"), path.name
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], path.name


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = _documents(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    expected = {p.name for p in MANIFESTS} - {"secret.example.yaml"}
    assert listed == expected
    assert kustomization["namespace"] == "actionstream"


def test_every_actionstream_variable_is_a_setting(objects: dict[str, dict[str, Any]]) -> None:
    names = list(objects["ConfigMap"]["data"]) + list(objects["Secret"]["stringData"])
    for kind in ("Deployment", "Job"):
        for container in _pod_spec(objects, kind)["containers"]:
            names += [e["name"] for e in container.get("env", [])]
    assert unknown_settings(names) == []


def test_configmap_values_are_strings(config: dict[str, str]) -> None:
    # The API server rejects non-string ConfigMap data (an unquoted 6 or true in YAML).
    assert all(isinstance(v, str) for v in config.values()), config


def test_secrets_are_not_in_the_configmap(objects: dict[str, dict[str, Any]]) -> None:
    secret_names = set(objects["Secret"]["stringData"])
    assert {
        "ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY",
        "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN",
    } <= secret_names
    assert not secret_names & set(objects["ConfigMap"]["data"])
    for value in objects["Secret"]["stringData"].values():
        assert "REPLACE_ME" in value, "the example Secret holds placeholders only"


def test_the_worker_reads_the_configmap_and_the_secret(
    objects: dict[str, dict[str, Any]],
) -> None:
    refs = _worker(objects)["envFrom"]
    assert {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}} in refs
    assert {"secretRef": {"name": objects["Secret"]["metadata"]["name"]}} in refs
    # The topics job needs the topic layout: the same ConfigMap.
    (job,) = _pod_spec(objects, "Job")["containers"]
    assert job["args"] == ["topics", "apply"]
    assert {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}} in job["envFrom"]


def test_the_worker_id_is_the_pod_name(objects: dict[str, dict[str, Any]]) -> None:
    env = {e["name"]: e for e in _worker(objects)["env"]}
    source = env["ACTIONSTREAM_WORKER__ID"]["valueFrom"]["fieldRef"]
    assert source["fieldPath"] == "metadata.name"


def test_probes_hit_health_and_readiness_on_the_web_port(
    objects: dict[str, dict[str, Any]], config: dict[str, str]
) -> None:
    assert config["ACTIONSTREAM_WORKER__WEB_HOST"] == "0.0.0.0"
    web_port = int(_setting(config, "ACTIONSTREAM_WORKER__WEB_PORT"))
    container = _worker(objects)
    expected = {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        if probe == "startupProbe" and probe not in container:
            continue
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert _port_number(container, get["port"]) == web_port, probe


def test_grace_period_outlasts_the_drain(
    objects: dict[str, dict[str, Any]], config: dict[str, str]
) -> None:
    drain = float(_setting(config, "ACTIONSTREAM_WORKER__DRAIN_TIMEOUT_S"))
    grace = _pod_spec(objects)["terminationGracePeriodSeconds"]
    assert grace >= drain + FAUST_STOP_ALLOWANCE_S, (grace, drain)


def test_the_worker_runs_locked_down(objects: dict[str, dict[str, Any]]) -> None:
    pod = _pod_spec(objects)
    container = _worker(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["enableServiceLinks"] is False
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    # With a read-only root, the working directory (Faust's data dir) and /tmp are volumes.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/var/lib/actionstream", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], path


def test_resources_are_requested_and_limited(objects: dict[str, dict[str, Any]]) -> None:
    resources = _worker(objects)["resources"]
    for key in ("cpu", "memory"):
        assert resources["requests"][key] and resources["limits"][key], key


def test_the_service_exposes_the_metrics_port_of_the_workers(
    objects: dict[str, dict[str, Any]], config: dict[str, str]
) -> None:
    service = objects["Service"]
    web_port = int(_setting(config, "ACTIONSTREAM_WORKER__WEB_PORT"))
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == web_port
    (port,) = service["spec"]["ports"]
    assert port["port"] == web_port
    assert _port_number(_worker(objects), port["targetPort"]) == web_port
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_selectors_match_the_worker_pods(objects: dict[str, dict[str, Any]]) -> None:
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["maxUnavailable"] == 1


def test_keda_scales_the_worker_group_within_the_partition_count(
    objects: dict[str, dict[str, Any]], config: dict[str, str]
) -> None:
    scaled = objects["ScaledObject"]["spec"]
    deployment = objects["Deployment"]
    assert scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    partitions = int(_setting(config, "ACTIONSTREAM_TOPICS__PARTITIONS"))
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= partitions
    triggers = scaled["triggers"]
    assert triggers and all(t["type"] == "kafka" for t in triggers)
    topics = {_setting(config, f"ACTIONSTREAM_TOPICS__{role}") for role in ("REQUESTS", "RETRY")}
    assert triggers[0]["metadata"]["topic"] == _setting(config, "ACTIONSTREAM_TOPICS__REQUESTS")
    for trigger in triggers:
        metadata = trigger["metadata"]
        assert metadata["topic"] in topics
        assert metadata["consumerGroup"] == _setting(config, "ACTIONSTREAM_KAFKA__CONSUMER_GROUP")
        assert metadata["bootstrapServers"] == _setting(
            config, "ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS"
        )
        assert int(metadata["lagThreshold"]) > 0
        assert str(metadata.get("allowIdleConsumers", "false")) == "false"


def test_every_image_reference_is_set_by_the_kustomization(
    objects: dict[str, dict[str, Any]],
) -> None:
    kustomization = _documents(K8S / "kustomization.yaml")[0]
    managed = {image["name"] for image in kustomization["images"]}
    for kind in ("Deployment", "Job"):
        for container in _pod_spec(objects, kind)["containers"]:
            assert container["image"] in managed, (kind, container["image"])
    for image in kustomization["images"]:
        assert image["newTag"] not in ("", "latest")


def test_kafka_is_reached_over_sasl_ssl_with_the_mounted_ca(
    objects: dict[str, dict[str, Any]], config: dict[str, str]
) -> None:
    assert config["ACTIONSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["ACTIONSTREAM_KAFKA__SASL_MECHANISM"].startswith("SCRAM-")
    mounts = {m["mountPath"] for m in _worker(objects)["volumeMounts"]}
    assert str(Path(config["ACTIONSTREAM_KAFKA__SSL_CAFILE"]).parent) in mounts
    assert "ACTIONSTREAM_KAFKA__SASL_PASSWORD" in objects["Secret"]["stringData"]
    (trigger,) = objects["ScaledObject"]["spec"]["triggers"]
    auth = objects["TriggerAuthentication"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    parameters = {r["parameter"] for r in auth["spec"]["secretTargetRef"]} | {
        r["parameter"] for r in auth["spec"]["configMapTargetRef"]
    }
    assert {"sasl", "username", "password", "tls", "ca"} <= parameters
