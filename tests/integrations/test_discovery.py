"""discover(): built-in packages, entry points, missing libraries, idempotency."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from integrations.discovery import BUILTIN_SERVICES, ENTRY_POINT_GROUP, discover
from integrations.errors import IntegrationUnavailableError, RegistrationError
from integrations.registry import IntegrationRegistry
from integrations.registry import registry as global_registry

SEEDSTYLE = Path(__file__).parent / "seedstyle"
FIXTURE_MODULES = {"weatherdemo", "weatherdemo_sdk", "brokensdk", "crashingdemo", "hookdemo"}
DISCOVERY_LOGGER = "integrations.discovery"


@pytest.fixture
def seedstyle(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put the fixture service packages on sys.path; forget them (and their imports) after."""
    monkeypatch.syspath_prepend(str(SEEDSTYLE))
    yield SEEDSTYLE
    for name in [n for n in sys.modules if n.split(".")[0] in FIXTURE_MODULES]:
        del sys.modules[name]
    # Seed-style packages register into the global registry when imported, as the seed does.
    global_registry.unregister("weatherdemo_get_forecast")


@pytest.fixture
def reg() -> IntegrationRegistry:
    return IntegrationRegistry()


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def unavailable_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == DISCOVERY_LOGGER and r.levelno == logging.WARNING
    ]


def test_missing_library_is_reported_not_swallowed(
    seedstyle: Path, reg: IntegrationRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=DISCOVERY_LOGGER)
    report = discover(reg, builtin=("brokensdk",), package="", entry_point_group=None)

    assert report.loaded == ()
    [missing] = report.unavailable
    assert missing.name == "brokensdk"
    assert missing.reason == "its library is missing: No module named 'nonexistent_sdk'"
    assert missing.install_hint == "pip install 'actionstream[brokensdk]'"

    [warning] = unavailable_warnings(caplog)
    assert "'brokensdk' is unavailable" in warning
    assert "nonexistent_sdk" in warning
    assert "pip install 'actionstream[brokensdk]'" in warning

    assert {
        "id": None,
        "service": "brokensdk",
        "available": False,
        "reason": missing.reason,
        "install_hint": missing.install_hint,
    } in reg.catalogue()

    # The integration's id was never seen (its import failed); the service prefix resolves it.
    with pytest.raises(IntegrationUnavailableError) as info:
        reg.get("brokensdk_send_invoice")
    assert "No module named 'nonexistent_sdk'" in str(info.value)
    assert "pip install 'actionstream[brokensdk]'" in str(info.value)

    # Discovery again: same state, no second warning.
    discover(reg, builtin=("brokensdk",), package="", entry_point_group=None)
    assert len(unavailable_warnings(caplog)) == 1
    assert len(reg.unavailable()) == 1


def test_install_hint_can_be_overridden(seedstyle: Path, reg: IntegrationRegistry) -> None:
    discover(
        reg,
        builtin=("brokensdk",),
        package="",
        entry_point_group=None,
        install_hints={"brokensdk": "pip install brokensdk-client>=2"},
    )
    with pytest.raises(IntegrationUnavailableError, match="pip install brokensdk-client>=2"):
        reg.get("brokensdk_send_invoice")


def test_a_builtin_that_does_not_exist_fails_loudly(reg: IntegrationRegistry) -> None:
    with pytest.raises(RegistrationError) as info:
        discover(reg, builtin=("nosuchservice",), entry_point_group=None)
    assert "'integrations.nosuchservice'" in str(info.value)
    assert "check the service name" in str(info.value)


def test_a_crashing_package_fails_start_up_unless_lenient(
    seedstyle: Path, reg: IntegrationRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RegistrationError, match="RuntimeError: crashingdemo is broken"):
        discover(reg, builtin=("crashingdemo",), package="", entry_point_group=None)

    caplog.set_level(logging.INFO, logger=DISCOVERY_LOGGER)
    report = discover(
        reg, builtin=("crashingdemo",), package="", entry_point_group=None, strict=False
    )
    assert [u.name for u in report.unavailable] == ["crashingdemo"]
    assert any(
        r.levelno == logging.ERROR and "crashingdemo" in r.getMessage() for r in caplog.records
    )
    with pytest.raises(IntegrationUnavailableError, match="crashingdemo is broken"):
        reg.get("crashingdemo_anything")


def test_discovery_is_idempotent(seedstyle: Path, reg: IntegrationRegistry) -> None:
    first = discover(reg, builtin=("weatherdemo",), package="", entry_point_group=None)
    second = discover(reg, builtin=("weatherdemo",), package="", entry_point_group=None)
    assert first.registered == second.registered == ("weatherdemo_get_forecast@1.0.0",)
    assert len(reg) == 1
    # The package's __init__ registered into the global `registry` (the seed's pattern);
    # discovery copied the very same instance into the target registry.
    assert global_registry.get("weatherdemo_get_forecast") is reg.get("weatherdemo_get_forecast")
    discover(global_registry, builtin=("weatherdemo",), package="", entry_point_group=None)
    assert global_registry.versions("weatherdemo_get_forecast") == ["1.0.0"]


def test_an_already_imported_package_is_found_again(
    seedstyle: Path, reg: IntegrationRegistry
) -> None:
    discover(reg, builtin=("weatherdemo",), package="", entry_point_group=None)
    assert "weatherdemo" in sys.modules  # its __init__ will not run a second time
    other = IntegrationRegistry()
    report = discover(other, builtin=("weatherdemo",), package="", entry_point_group=None)
    assert report.registered == ("weatherdemo_get_forecast@1.0.0",)
    assert other.get("weatherdemo_get_forecast") is reg.get("weatherdemo_get_forecast")


def test_entry_points_of_every_shape(seedstyle: Path, reg: IntegrationRegistry) -> None:
    report = discover(
        reg,
        builtin=(),
        entry_points=[
            ep("weatherdemo", "weatherdemo"),  # a package that registers on import
            ep("hookdemo", "hookdemo:HookdemoEchoIntegration"),  # a class
            ep("hookdemo2", "hookdemo:instance"),  # an instance
            ep("hookdemo3", "hookdemo:register"),  # a register(registry) hook
        ],
    )
    assert report.loaded == ("weatherdemo", "hookdemo", "hookdemo2", "hookdemo3")
    assert set(report.registered) == {
        "weatherdemo_get_forecast@1.0.0",
        "hookdemo_echo@1.0.0",
        "hookdemo_echo@2.0.0",
        "hookdemo_echo@3.0.0",
    }
    assert reg.metadata("hookdemo_echo").version == "3.0.0"


def test_entry_point_with_missing_library(
    seedstyle: Path, reg: IntegrationRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=DISCOVERY_LOGGER)
    report = discover(reg, builtin=(), entry_points=[ep("brokensdk", "brokensdk")])
    [missing] = report.unavailable
    assert "nonexistent_sdk" in missing.reason
    assert missing.install_hint is not None
    assert "entry point 'brokensdk'" in missing.install_hint
    assert len(unavailable_warnings(caplog)) == 1


def test_entry_point_of_the_wrong_kind(seedstyle: Path, reg: IntegrationRegistry) -> None:
    with pytest.raises(RegistrationError, match="must name a module, a BaseIntegration"):
        discover(reg, builtin=(), entry_points=[ep("bad", "hookdemo:not_an_integration")])


def test_installed_entry_points_are_read(reg: IntegrationRegistry) -> None:
    report = discover(reg, builtin=(), entry_point_group="actionstream.tests.no-such-group")
    assert report == type(report)((), (), ())


def test_builtin_services_load(reg: IntegrationRegistry) -> None:
    assert "telegram" in BUILTIN_SERVICES
    report = discover(reg, entry_point_group=None)
    assert report.unavailable == ()
    assert report.loaded == BUILTIN_SERVICES
    assert sorted(report.registered) == sorted(m.key for m in reg.list())
    assert {m.service for m in reg.list()} == set(BUILTIN_SERVICES)
