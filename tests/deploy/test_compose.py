"""docker-compose.yml cannot run here (no Docker engine); keep it valid and true to the settings."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from infra import REPO
from processors.settings import Settings


def _setting_exists(env_name: str) -> bool:
    """Whether ACTIONSTREAM_A__B names a field of the settings model."""
    parts = env_name.removeprefix("ACTIONSTREAM_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            annotation: Any = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_compose_has_the_stack_and_a_worker_wired_by_settings_names() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "redis", "worker"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["worker"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (REPO / "deploy" / "Dockerfile").is_file()
    env_names = [n for n in services["worker"]["environment"] if n.startswith("ACTIONSTREAM_")]
    assert env_names
    unknown = [n for n in env_names if not _setting_exists(n)]
    assert unknown == [], f"compose sets variables the settings model does not read: {unknown}"


def test_setting_name_check_rejects_unknown_names() -> None:
    assert _setting_exists("ACTIONSTREAM_KAFKA__BOOTSTRAP_SERVERS")
    assert not _setting_exists("ACTIONSTREAM_KAFKA__BOOTSTRAP")
    assert not _setting_exists("ACTIONSTREAM_DEV_MODE__X")
