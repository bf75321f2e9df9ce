"""Explicit, start-up time discovery of integrations.

``discover(registry)`` imports each built-in service package (``integrations.<service>``,
whose ``__init__`` calls ``registry.register(...)`` as the seed shows) and then loads
third-party packages from the ``actionstream.integrations`` entry-point group, the way
pluggy's ``load_setuptools_entrypoints`` does. An entry point may name

* a module or package that registers on import (the seed's pattern),
* a ``BaseIntegration`` subclass or instance, or
* a callable ``register(registry)`` hook.

A service whose *library* is missing is not an error at start-up and is never silent:
it is recorded as unavailable (reason + install hint), logged once as a warning, shown
in the catalogue, and ``registry.get()`` for its ids raises with that message. A
service whose *own* code fails to import (a bug, a typo in the built-in list) raises
:class:`~integrations.errors.RegistrationError` so start-up fails loudly.

Discovery is idempotent: calling it again registers nothing twice and logs nothing twice.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType

from integrations.base import BaseIntegration
from integrations.errors import RegistrationError
from integrations.registry import IntegrationRegistry, UnavailableService
from integrations.registry import registry as default_registry

__all__ = [
    "BUILTIN_PACKAGE",
    "BUILTIN_SERVICES",
    "ENTRY_POINT_GROUP",
    "DiscoveryReport",
    "default_install_hint",
    "discover",
]

log = logging.getLogger(__name__)

BUILTIN_SERVICES: tuple[str, ...] = (
    "telegram",  # messaging
    "discord",  # messaging
    "vk",  # messaging
    "openai",  # ai
    "yandexgpt",  # ai
    "dropbox",  # storage
    "googledrive",  # storage
    "openweathermap",  # weather
    "yandexweather",  # weather
    "googlemaps",  # maps
    "yandexmaps",  # maps
    "yookassa",  # payments
    "stripe",  # payments
    "paypal",  # payments
    "bitrix24",  # crm
    "hubspot",  # crm
    "amocrm",  # crm
    "wildberries",  # ecommerce
    "ozon",  # ecommerce
    "moodle",  # education
    "googleclassroom",  # education
    "openfda",  # medicine
    "newsapi",  # news
    "rss",  # news (the seed's Yandex News: any RSS/Atom feed)
    "googletranslate",  # translation
    "yandextranslate",  # translation
)
"""Service packages under ``integrations/`` that ship with actionstream."""
BUILTIN_PACKAGE = "integrations"
ENTRY_POINT_GROUP = "actionstream.integrations"


@dataclass(frozen=True, slots=True)
class DiscoveryReport:
    """What one ``discover()`` call found (cumulative state lives in the registry)."""

    loaded: tuple[str, ...]  # services imported successfully
    registered: tuple[str, ...]  # "id@version" keys they provide
    unavailable: tuple[UnavailableService, ...]  # services that cannot run, with reasons


def default_install_hint(service: str) -> str:
    """The hint shown for a built-in service whose library is missing."""
    return f"pip install 'actionstream[{service}]'"


def discover(
    registry: IntegrationRegistry | None = None,
    builtin: Iterable[str] = BUILTIN_SERVICES,
    *,
    entry_point_group: str | None = ENTRY_POINT_GROUP,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    install_hints: Mapping[str, str] | None = None,
    strict: bool = True,
    package: str = BUILTIN_PACKAGE,
) -> DiscoveryReport:
    """Import built-in services and entry-point plugins, registering into ``registry``.

    ``builtin`` holds service names (``"telegram"`` → ``integrations.telegram``, the
    parent being ``package``) or full module paths (``"mycompany.crm"``, service ``crm``);
    with ``package=""`` every name is a module path. ``entry_points`` replaces the
    installed entry points of ``entry_point_group`` (tests); ``entry_point_group=None``
    skips plugins. ``install_hints`` overrides the hint per service name. With
    ``strict=False`` a service whose own code raises at import is recorded as
    unavailable instead of failing start-up.
    """
    target = registry if registry is not None else default_registry
    hints = dict(install_hints or {})
    run = _Run(target, strict)

    for name in builtin:
        module_name = f"{package}.{name}" if package and "." not in name else name
        service = module_name.rsplit(".", 1)[-1]
        hint = hints.get(service) or default_install_hint(service)
        module = run.import_service(service, module_name, hint)
        if module is not None:
            run.finish(service, target._adopt(module))

    if entry_points is None and entry_point_group is not None:
        entry_points = importlib.metadata.entry_points(group=entry_point_group)
    for ep in entry_points or ():
        run.load_entry_point(ep, hints.get(ep.name))

    report = DiscoveryReport(tuple(run.loaded), tuple(run.registered), tuple(run.unavailable))
    log.info(
        "discovered %d integration version(s) from %d service(s); %d unavailable",
        len(report.registered),
        len(report.loaded),
        len(report.unavailable),
    )
    return report


class _Run:
    """Book-keeping for one discover() call."""

    def __init__(self, target: IntegrationRegistry, strict: bool) -> None:
        self.target = target
        self.strict = strict
        self.loaded: list[str] = []
        self.registered: list[str] = []
        self.unavailable: list[UnavailableService] = []

    def finish(self, service: str, keys: Iterable[str]) -> None:
        self.loaded.append(service)
        self.registered.extend(keys)

    def import_service(self, service: str, module_name: str, hint: str) -> ModuleType | None:
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            self.import_failed(service, module_name, exc, hint)
        except RegistrationError:
            raise
        except Exception as exc:
            self.load_failed(service, module_name, exc)
        return None

    def load_entry_point(self, ep: importlib.metadata.EntryPoint, hint: str | None) -> None:
        service = ep.name
        dist = ep.dist.name if ep.dist is not None else None
        hint = hint or (
            f"pip install --force-reinstall '{dist}'"
            if dist
            else f"install the package that provides the entry point {ep.name!r} = {ep.value!r}"
        )
        try:
            obj = ep.load()
        except ImportError as exc:
            self.import_failed(service, ep.module, exc, hint)
            return
        except RegistrationError:
            raise
        except Exception as exc:
            self.load_failed(service, ep.value, exc)
            return
        origin = f"entry point {ep.name}={ep.value}"
        if isinstance(obj, ModuleType):
            keys = self.target._adopt(obj)
        elif isinstance(obj, type) and issubclass(obj, BaseIntegration):
            keys = [self.target._add(obj(), origin).metadata.key]
        elif isinstance(obj, BaseIntegration):
            keys = [self.target._add(obj, origin).metadata.key]
        elif callable(obj):
            before = set(_keys(self.target))
            obj(self.target)
            keys = sorted(set(_keys(self.target)) - before)
        else:
            raise RegistrationError(
                f"{origin} loaded {obj!r}; it must name a module, a BaseIntegration "
                "subclass or instance, or a register(registry) function"
            )
        self.finish(service, keys)

    def import_failed(self, service: str, module_name: str, exc: ImportError, hint: str) -> None:
        missing = exc.name or ""
        if _is_own(missing, module_name):
            raise RegistrationError(
                f"service {service!r}: importing {module_name!r} failed inside its own code: "
                f"{exc}; check the service name and the package's imports"
            ) from exc
        if isinstance(exc, ModuleNotFoundError):
            reason = f"its library is missing: {exc}"
        else:
            reason = f"its library failed to import: {exc}"
        self.mark(service, reason, hint, logging.WARNING)

    def load_failed(self, service: str, where: str, exc: Exception) -> None:
        reason = f"{where} failed to load: {type(exc).__name__}: {exc}"
        if self.strict:
            raise RegistrationError(f"service {service!r}: {reason}") from exc
        self.mark(service, reason, None, logging.ERROR)

    def mark(self, service: str, reason: str, hint: str | None, level: int) -> None:
        if self.target.mark_unavailable(service, reason, hint):
            # Logged once per registry: a second discover() finds the same record.
            log.log(
                level,
                "integration service %r is unavailable: %s%s",
                service,
                reason,
                f"; to enable it: {hint}" if hint else "",
            )
        self.unavailable.append(UnavailableService(service, reason, hint))


def _is_own(missing: str, module_name: str) -> bool:
    """Whether the module that failed to import belongs to the service or to actionstream."""
    if not missing:
        return False
    roots = {module_name, BUILTIN_PACKAGE}
    return any(missing == r or missing.startswith(r + ".") for r in roots)


def _keys(target: IntegrationRegistry) -> list[str]:
    return [f"{m.id}@{m.version}" for m in target.list()]
