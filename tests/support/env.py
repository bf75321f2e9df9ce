"""Turn a Settings object into the ACTIONSTREAM_* environment a worker process reads."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr

from processors.settings import Settings
from topics.settings import KafkaSettings


def settings_env(settings: Settings) -> dict[str, str]:
    """Every explicitly set field, flattened with the model's prefix and ``__`` delimiter."""
    env: dict[str, str] = {}
    _flatten(settings, "ACTIONSTREAM_", env)
    return env


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """The ``ACTIONSTREAM_KAFKA__*`` variables of ``kafka``'s explicitly set fields: how a
    helper process (a benchmark's ceiling, a naive Faust app) connects like the worker."""
    env: dict[str, str] = {}
    _flatten(kafka, "ACTIONSTREAM_KAFKA__", env)
    return env


def _flatten(model: BaseModel, prefix: str, env: dict[str, str]) -> None:
    for name in model.model_fields_set:
        value = getattr(model, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            _flatten(value, key + "__", env)
        else:
            env[key] = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=_jsonable)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)
