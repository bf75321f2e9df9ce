"""deploy/Dockerfile and .dockerignore, read without a Docker engine.

A small reader of Dockerfile syntax (continuations, comments, heredocs, stages) is enough to check
what matters: the runtime stage runs `actionstream worker` as a non-root user, health-checks
/healthz without curl, stops on SIGTERM, and its build context holds what the COPYs need.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra import REPO
from support.settings_names import setting_default, unknown_settings

DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its (KEYWORD, arguments) in order."""
    stages: list[Stage] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        logical = line
        while logical.endswith("\\"):
            following = next(lines)
            if following.lstrip().startswith("#"):
                continue  # comment lines inside a continuation are dropped
            logical = logical[:-1] + " " + following.strip()
        for marker in re.findall(r"<<-?'?\"?(\w+)", logical):
            for body in lines:  # skip the heredoc body up to its terminator
                if body.strip() == marker:
                    break
        keyword, _, args = logical.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name=name, base=words[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    parsed = parse_dockerfile(DOCKERFILE.read_text())
    assert parsed
    return parsed


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return [str(v) for v in value]


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def test_entry_is_actionstream_worker(runtime: Stage) -> None:
    assert _exec_form(runtime.last("ENTRYPOINT")) == ["actionstream"]
    assert _exec_form(runtime.last("CMD")) == ["worker"]


def test_runs_as_a_non_root_user(runtime: Stage) -> None:
    user = runtime.last("USER").split(":")[0]
    assert user not in ("root", "0", "")
    # A numeric uid, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert user.isdigit(), user
    assert user == "10001", "deploy/k8s/deployment.yaml runs as uid 10001"


def test_runtime_is_slim_and_multi_stage(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert any(args.startswith("--from=") for args in stages[-1].all("COPY"))
    arg_default = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text())
    assert arg_default
    assert "-slim" in arg_default[1]


def test_dependency_layer_depends_on_pyproject_only(stages: list[Stage]) -> None:
    deps = stages[0]
    copies = deps.all("COPY")
    assert copies == ["pyproject.toml ./"], copies
    assert any("pip install -r /tmp/requirements.txt" in run for run in deps.all("RUN"))


def test_dependency_list_is_the_runtime_dependencies_and_the_all_extra(tmp_path: Path) -> None:
    """Run the Dockerfile's own extraction script on the real pyproject.toml."""
    text = DOCKERFILE.read_text()
    match = re.search(r"^RUN python - <<'PY'\n(?P<body>.*?)^PY$", text, re.M | re.S)
    assert match, "the dependency extraction heredoc is gone"
    output = tmp_path / "requirements.txt"
    script = match["body"].replace("/tmp/requirements.txt", str(output))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, check=True, capture_output=True, timeout=60
    )
    wanted = output.read_text().split()

    with (REPO / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    extras = project["optional-dependencies"]
    assert wanted[: len(project["dependencies"])] == project["dependencies"]
    for sdk in ("openai", "stripe"):
        assert set(extras[sdk]) <= set(wanted), sdk
    assert not [w for w in wanted if w.startswith(project["name"])], "self-references expanded"
    dev_tools = set(extras["dev"]) - {f"{project['name']}[all]"}
    assert not dev_tools & set(wanted), "no test or lint tools in the image"


def test_healthcheck_asks_healthz_with_python(runtime: Stage) -> None:
    healthcheck = runtime.last("HEALTHCHECK")
    command = _exec_form(healthcheck.split("CMD", 1)[1].strip())
    assert command[0] == "python"
    assert "/healthz" in command[-1]
    assert "ACTIONSTREAM_WORKER__WEB_PORT" in command[-1]
    assert "curl" not in healthcheck and "wget" not in healthcheck


def test_stops_on_sigterm_and_exposes_the_web_port(runtime: Stage) -> None:
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    assert runtime.last("EXPOSE") == str(setting_default("ACTIONSTREAM_WORKER__WEB_PORT"))


def test_image_environment_uses_setting_names(runtime: Stage) -> None:
    env = _env(runtime)
    assert unknown_settings(env) == []
    assert env["ACTIONSTREAM_WORKER__WEB_HOST"] == "0.0.0.0"


def test_has_oci_labels(runtime: Stage) -> None:
    labels = " ".join(runtime.all("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_dockerignore_is_an_allowlist_covering_every_copy(stages: list[Stage]) -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "exclude everything first, then let back what the image needs"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for stage in stages:
        for args in stage.all("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if args.startswith("--from=") or "<<" in args:
                continue
            for source in words[:-1]:
                assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"
                assert (REPO / source).exists(), source
    for secret_like in (".env", ".venv", ".local", "credentials.json", "tests"):
        assert secret_like not in allowed
