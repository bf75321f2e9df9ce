"""Integrations: one package per external service, one module per action.

Importing this package imports no service: call
:func:`integrations.discovery.discover` once at start-up (unlike the seed, whose
``__init__`` imported every service inside ``try/except ImportError: pass`` and so hid
missing libraries forever).

``BaseIntegration``, ``IntegrationMetadata`` and ``BotLogger`` are re-exported lazily
for convenience. The registry instance is *not* re-exported here, because the name
``integrations.registry`` belongs to the submodule: use
``from integrations.registry import registry`` as the seed does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.base import BaseIntegration, IntegrationMetadata
    from integrations.bot_logger import BotLogger

__all__ = ["BaseIntegration", "BotLogger", "IntegrationMetadata"]

_LAZY = {
    "BaseIntegration": "integrations.base",
    "IntegrationMetadata": "integrations.base",
    "BotLogger": "integrations.bot_logger",
}


def __getattr__(name: str) -> Any:
    # Lazy so that importing e.g. integrations.errors does not load pydantic and jsonschema.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'integrations' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
