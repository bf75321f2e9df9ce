"""Which ``ACTIONSTREAM_*`` environment variables the settings model reads.

pydantic-settings ignores a variable it does not know (``extra="ignore"``), so a misspelt name
would silently leave its setting at the default; the worker refuses to start with one
(:mod:`processors.preflight`), and the tests check the deployment files' names the same way.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from integrations.credentials import EnvCredentialsSource
from processors.settings import Settings

__all__ = ["PREFIX", "setting_exists", "setting_names", "unknown_settings"]

PREFIX = "ACTIONSTREAM_"
# ACTIONSTREAM_CRED__<BOT>__<PROVIDER>__<STRATEGY> holds one bot's credentials for the `env`
# credentials source; it is read by that source, not by the settings model. ACTIONSTREAM_STACK
# picks the local stack's mode (deploy/local/stack.sh).
NOT_SETTINGS = (EnvCredentialsSource.PREFIX, "ACTIONSTREAM_STACK")


def setting_exists(env_name: str) -> bool:
    """Whether ``ACTIONSTREAM_A__B`` names a field of the settings model.

    Nested models are walked by ``__``; a ``dict[str, Model]`` field takes any key as the next
    part (``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL``).
    """
    if not env_name.startswith(PREFIX):
        return False
    parts = env_name.removeprefix(PREFIX).lower().split("__")
    target: Any = Settings
    i = 0
    while i < len(parts):
        model = _model_of(target)
        if model is None:
            return False  # a scalar field cannot have sub-fields
        field = model.model_fields.get(parts[i])
        if field is None:
            return False
        target = field.annotation
        i += 1
        value = _dict_value_type(target)
        if value is not None and i < len(parts):
            target = value  # the dict key is free text: skip it
            i += 1
    return True


def setting_names() -> list[str]:
    """Every ``ACTIONSTREAM_*`` name the model reads, nested models walked by ``__`` (a
    ``dict``-valued field is listed by its own name: its keys are free text)."""
    names: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for field_name, field in model.model_fields.items():
            name = f"{prefix}{field_name.upper()}"
            names.append(name)
            nested = _model_of(field.annotation)
            if nested is not None:
                walk(nested, name + "__")

    walk(Settings, PREFIX)
    return names


def unknown_settings(names: Iterable[str]) -> list[str]:
    """The ``ACTIONSTREAM_*`` names among ``names`` that the settings model does not read.

    Names without the prefix and per-bot credential variables are not settings and pass.
    """
    return [
        name
        for name in names
        if name.startswith(PREFIX)
        and not name.startswith(NOT_SETTINGS)
        and not setting_exists(name)
    ]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class behind ``Model`` or ``Model | None``; ``None`` for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in map(_model_of, get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _dict_value_type(annotation: Any) -> Any | None:
    """The value type of ``dict[str, V]``; ``None`` when ``annotation`` is not a dict type."""
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        return args[1] if len(args) == 2 else Any
    return None
