"""Check ACTIONSTREAM_* environment variable names against the settings model.

Deployment files (docker-compose.yml, the Kubernetes manifests) configure workers by environment
only; the tests check every name they set with :mod:`processors.settings_names`, and read the
model's defaults with :func:`setting_default`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from processors.settings import Settings
from processors.settings_names import PREFIX, _model_of, setting_exists, unknown_settings

__all__ = ["setting_default", "setting_exists", "unknown_settings"]


def setting_default(env_name: str) -> Any:
    """The model's default for the setting ``env_name`` names (not the current environment's)."""
    if not setting_exists(env_name):
        raise KeyError(f"{env_name} is not a setting")
    *path, leaf = env_name.removeprefix(PREFIX).lower().split("__")
    model: type[BaseModel] = Settings
    for part in path:
        found = _model_of(model.model_fields[part].annotation)
        if found is None:
            raise KeyError(f"{env_name}: no single default inside a dict-valued setting")
        model = found
    return model.model_fields[leaf].get_default(call_default_factory=True)
