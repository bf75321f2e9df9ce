"""``IntegrationRegistry`` and the module-level ``registry`` the seed imports.

Seed-style service packages register at import time::

    from integrations.registry import registry
    registry.register(TelegramSendMessageIntegration())

Importing this module registers nothing: :func:`integrations.discovery.discover` imports
the service packages explicitly at start-up. Importing a service package registers into
the global ``registry``, exactly as in the seed. So that ``discover()`` can also fill
another registry (tests build fresh ones), every registration is journalled with the
module that made it: discovering a package, imported now or long ago (its ``__init__``
will not run again), copies what it registered into the target registry.
"""

from __future__ import annotations

import builtins
import difflib
import json
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from integrations.base import BaseIntegration, Category, IntegrationMetadata, parse_version
from integrations.errors import (
    IntegrationNotFoundError,
    IntegrationUnavailableError,
    RegistrationError,
)

__all__ = [
    "IntegrationRegistry",
    "RegisteredIntegration",
    "UnavailableService",
    "registry",
]


@dataclass(frozen=True, slots=True)
class RegisteredIntegration:
    """An integration and its metadata, read and validated once at registration.

    Use ``entry.metadata`` rather than ``entry.integration.metadata``: a seed-style
    ``metadata`` property builds (and validates) a new object on every access.
    """

    integration: BaseIntegration
    metadata: IntegrationMetadata
    origin: str  # the module that registered it

    def validate_config(self, config: object) -> None:
        self.metadata.validate_config(config)


@dataclass(frozen=True, slots=True)
class UnavailableService:
    """A service (or single integration id) that cannot run here, and why."""

    name: str
    reason: str
    install_hint: str | None = None

    def matches(self, integration_id: str) -> bool:
        return integration_id == self.name or integration_id.startswith(self.name + "_")

    def message(self, integration_id: str) -> str:
        hint = f"; to enable it: {self.install_hint}" if self.install_hint else ""
        return f"integration {integration_id!r} is unavailable: {self.reason}{hint}"


# Every integration ever registered, on any registry, so that discovery into another registry
# can adopt what a module registered when it was first imported (a module imports only once).
_registered: list[BaseIntegration] = []
_registered_lock = threading.Lock()


def _origin(integration: BaseIntegration) -> str:
    """The module that defines the integration's class: where it was registered from."""
    return type(integration).__module__


def _is_current(integration: BaseIntegration) -> bool:
    """False for an instance whose module has since been re-imported (its class replaced)."""
    cls = type(integration)
    module = sys.modules.get(cls.__module__)
    return module is not None and getattr(module, cls.__qualname__, None) is cls


class IntegrationRegistry:
    """Integrations by id and version, plus the services known to be unavailable."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, RegisteredIntegration]] = {}
        # The newest version per id, kept current on every change: the processor looks an
        # unpinned id up for every request, and sorting versions there was measurable.
        self._newest: dict[str, RegisteredIntegration] = {}
        self._unavailable: dict[str, UnavailableService] = {}
        self._lock = threading.RLock()

    # --- registration -------------------------------------------------------------

    def register(self, integration: BaseIntegration) -> BaseIntegration:
        """Validate ``integration``'s metadata and add it; returns it unchanged.

        Registering the same instance again is a no-op (discovery may run twice);
        another instance with the same ``id@version`` raises :class:`RegistrationError`.
        """
        self._add(
            integration, _origin(integration) if isinstance(integration, BaseIntegration) else "?"
        )
        with _registered_lock:
            _registered.append(integration)
        return integration

    def _add(self, integration: BaseIntegration, origin: str) -> RegisteredIntegration:
        if not isinstance(integration, BaseIntegration):
            raise RegistrationError(
                f"register() needs a BaseIntegration instance, got {integration!r}; "
                "pass an instance, e.g. registry.register(MyIntegration())"
            )
        cls = type(integration).__qualname__
        try:
            metadata = integration.metadata
        except ValidationError as exc:
            raise RegistrationError(f"cannot register {cls}: invalid metadata: {exc}") from exc
        if not isinstance(metadata, IntegrationMetadata):
            raise RegistrationError(
                f"cannot register {cls}: its metadata is {type(metadata).__name__}, "
                "not IntegrationMetadata"
            )
        with self._lock:
            versions = self._entries.setdefault(metadata.id, {})
            for version, entry in versions.items():
                if parse_version(version) != parse_version(metadata.version):
                    continue
                if entry.integration is integration:
                    return entry
                raise RegistrationError(
                    f"integration {metadata.key!r} ({cls}, from {origin}) is already registered "
                    f"by {type(entry.integration).__qualname__} from {entry.origin}; "
                    "bump the version or register it once"
                )
            added = RegisteredIntegration(integration, metadata, origin)
            versions[metadata.version] = added
            self._newest[metadata.id] = versions[_newest(versions)]
        return added

    def unregister(self, integration_id: str, version: str | None = None) -> None:
        """Remove one version (or all versions) of an integration; a no-op when absent."""
        with self._lock:
            versions = self._entries.get(integration_id)
            if versions is None:
                return
            if version is None:
                versions.clear()
            else:
                for v in [v for v in versions if parse_version(v) == parse_version(version)]:
                    del versions[v]
            if versions:
                self._newest[integration_id] = versions[_newest(versions)]
            else:
                del self._entries[integration_id]
                self._newest.pop(integration_id, None)

    def mark_unavailable(
        self, id_or_service: str, reason: str, install_hint: str | None = None
    ) -> bool:
        """Record that a service (``"stripe"``) or one id cannot run, and why.

        Returns ``True`` when this is new information (so callers log it once).
        """
        record = UnavailableService(id_or_service, reason, install_hint)
        with self._lock:
            known = self._unavailable.get(id_or_service)
            self._unavailable[id_or_service] = record
        return known != record

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._newest.clear()
            self._unavailable.clear()

    # --- lookup -------------------------------------------------------------------

    def entry(self, integration_id: str, version: str | None = None) -> RegisteredIntegration:
        """The registered integration with its cached metadata (see :meth:`get`)."""
        if version is None and (newest := self._newest.get(integration_id)) is not None:
            return newest  # the hot path: one dict lookup
        with self._lock:
            versions = dict(self._entries.get(integration_id, {}))
            unavailable = self._find_unavailable(integration_id)
        if not versions:
            if unavailable is not None:
                raise IntegrationUnavailableError(
                    unavailable.message(integration_id),
                    integration_id=integration_id,
                    reason=unavailable.reason,
                    install_hint=unavailable.install_hint,
                )
            raise IntegrationNotFoundError(
                self._not_found_message(integration_id), integration_id=integration_id
            )
        if version is None:
            return versions[_newest(versions)]
        try:
            wanted = parse_version(version)
        except ValueError as exc:
            raise IntegrationNotFoundError(
                f"integration {integration_id!r}: {exc}", integration_id=integration_id
            ) from None
        for v, found in versions.items():
            if parse_version(v) == wanted:
                return found
        known = ", ".join(_sorted_versions(versions))
        raise IntegrationNotFoundError(
            f"integration {integration_id!r} has no version {version!r}; known versions: "
            f"{known} (omit the version to use the newest)",
            integration_id=integration_id,
            version=version,
        )

    def get(self, integration_id: str, version: str | None = None) -> BaseIntegration:
        """The integration ``integration_id`` at ``version``, or its newest version.

        "Newest" is the highest release by semver precedence (``1.10.0`` > ``1.2.0``);
        pre-releases are chosen only when an id has no release at all. Raises
        :class:`IntegrationNotFoundError` or :class:`IntegrationUnavailableError`.
        """
        return self.entry(integration_id, version).integration

    def metadata(self, integration_id: str, version: str | None = None) -> IntegrationMetadata:
        return self.entry(integration_id, version).metadata

    def versions(self, integration_id: str) -> builtins.list[str]:
        """Registered versions of an id, oldest first."""
        with self._lock:
            return _sorted_versions(self._entries.get(integration_id, {}))

    def ids(self) -> builtins.list[str]:
        with self._lock:
            return sorted(self._entries)

    def unavailable(self) -> builtins.list[UnavailableService]:
        with self._lock:
            return sorted(self._unavailable.values(), key=lambda u: u.name)

    def __contains__(self, integration_id: object) -> bool:
        return integration_id in self._entries

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())

    def _find_unavailable(self, integration_id: str) -> UnavailableService | None:
        # The longest name wins: "yandex_gpt" is more specific than "yandex".
        matches = [u for u in self._unavailable.values() if u.matches(integration_id)]
        return max(matches, key=lambda u: len(u.name), default=None)

    def _not_found_message(self, integration_id: str) -> str:
        known = self.ids()
        close = difflib.get_close_matches(integration_id, known, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        listing = ", ".join(known) if known else "none (was discover() called at start-up?)"
        return f"unknown integration {integration_id!r}{hint} Known integrations: {listing}"

    # --- catalogue ----------------------------------------------------------------

    def catalogue(self) -> builtins.list[dict[str, Any]]:
        """Every registered version and every unavailable service, as JSON-ready dicts."""
        with self._lock:
            entries = {k: dict(v) for k, v in self._entries.items()}
            unavailable = self.unavailable()
        out: builtins.list[dict[str, Any]] = []
        for integration_id in sorted(entries):
            versions = entries[integration_id]
            newest = _newest(versions)
            for version in _sorted_versions(versions):
                meta = versions[version].metadata
                item = meta.model_dump(mode="json")
                item.update(service=meta.service, latest=version == newest, available=True)
                out.append(item)
        for u in unavailable:
            out.append(
                {
                    "id": None,
                    "service": u.name,
                    "available": False,
                    "reason": u.reason,
                    "install_hint": u.install_hint,
                }
            )
        return out

    def export_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.catalogue(), indent=indent, ensure_ascii=False)

    def _adopt(self, module: ModuleType) -> builtins.list[str]:
        """Register ``module``'s integrations; returns their keys.

        A module that exports ``INTEGRATIONS`` (every built-in service package does) gives them
        explicitly; for a seed-style module, what was registered on its import from classes
        defined in it or its submodules is taken.
        """
        exported = getattr(module, "INTEGRATIONS", None)
        if exported is not None:
            found = list(exported)
        else:
            prefix = module.__name__ + "."
            with _registered_lock:
                found = [
                    i
                    for i in _registered
                    if (_origin(i) == module.__name__ or _origin(i).startswith(prefix))
                    and _is_current(i)
                ]
        unique = {id(i): i for i in found}  # re-registrations are listed too
        return [self._add(i, _origin(i)).metadata.key for i in unique.values()]

    def list(self, category: Category | str | None = None) -> builtins.list[IntegrationMetadata]:
        """Metadata of every registered version, by id then version (optionally one category)."""
        with self._lock:
            entries = {k: dict(v) for k, v in self._entries.items()}
        return [
            entries[i][v].metadata
            for i in sorted(entries)
            for v in _sorted_versions(entries[i])
            if category is None or entries[i][v].metadata.category == category
        ]


def _sorted_versions(versions: dict[str, Any]) -> list[str]:
    return sorted(versions, key=parse_version)


def _newest(versions: dict[str, Any]) -> str:
    ordered = _sorted_versions(versions)
    releases = [v for v in ordered if parse_version(v)[3] == 1]
    return (releases or ordered)[-1]


registry = IntegrationRegistry()
"""The process-wide registry that seed-style service packages register into."""
