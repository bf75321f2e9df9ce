"""IntegrationRegistry: registration, version selection, errors, catalogue."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from integrations.base import BaseIntegration, CredentialsResolverLike, IntegrationMetadata
from integrations.bot_logger import BotLogger
from integrations.errors import (
    IntegrationNotFoundError,
    IntegrationUnavailableError,
    RegistrationError,
)
from integrations.registry import IntegrationRegistry
from integrations.registry import registry as global_registry


class Demo(BaseIntegration):
    """A configurable integration for registry tests."""

    def __init__(self, integration_id: str = "demo_echo", version: str = "1.0.0", **extra: Any):
        self._id = integration_id
        self._version = version
        self._extra = extra
        self.metadata_reads = 0

    @property
    def metadata(self) -> IntegrationMetadata:
        self.metadata_reads += 1
        kwargs: dict[str, Any] = {
            "id": self._id,
            "version": self._version,
            "name": "Demo",
            "description": "Echo",
            "category": "messaging",
            "icon_s3_key": "icons/integrations/demo.svg",
            "color": "#112233",
            "config_schema": {"type": "object"},
            "credentials_provider": "demo",
            "credentials_strategy": "api_key",
            "library_name": "httpx",
        }
        kwargs.update(self._extra)
        return IntegrationMetadata(**kwargs)

    async def execute(
        self,
        config: dict[str, Any],
        credentials_resolver: CredentialsResolverLike,
        bot_id: UUID | str,
        logger: BotLogger,
    ) -> dict[str, Any]:
        return {"response": {"ok": True, "result": config}}


@pytest.fixture
def reg() -> IntegrationRegistry:
    return IntegrationRegistry()


def test_register_and_get(reg: IntegrationRegistry) -> None:
    demo = Demo()
    assert reg.register(demo) is demo
    assert reg.get("demo_echo") is demo
    assert reg.get("demo_echo", "1.0.0") is demo
    assert "demo_echo" in reg
    assert len(reg) == 1
    entry = reg.entry("demo_echo")
    assert entry.metadata.id == "demo_echo"
    reads = demo.metadata_reads
    for _ in range(3):  # the processor reads cached metadata, not the seed's property
        reg.entry("demo_echo").validate_config({})
    assert demo.metadata_reads == reads


def test_registering_the_same_instance_twice_is_a_no_op(reg: IntegrationRegistry) -> None:
    demo = Demo()
    reg.register(demo)
    reg.register(demo)
    assert len(reg) == 1


def test_duplicate_id_and_version_is_rejected(reg: IntegrationRegistry) -> None:
    reg.register(Demo())
    with pytest.raises(RegistrationError) as info:
        reg.register(Demo())
    message = str(info.value)
    assert "'demo_echo@1.0.0'" in message
    assert "already registered" in message
    assert "bump the version" in message
    # Same precedence (build metadata differs) is the same version.
    with pytest.raises(RegistrationError, match="already registered"):
        reg.register(Demo(version="1.0.0+build.7"))


def test_invalid_metadata_fails_at_registration_naming_the_class(
    reg: IntegrationRegistry,
) -> None:
    with pytest.raises(RegistrationError) as info:
        reg.register(Demo(color="teal"))
    assert "cannot register Demo" in str(info.value)
    assert "color 'teal' must be '#RRGGBB'" in str(info.value)
    assert len(reg) == 0


def test_register_rejects_non_integrations(reg: IntegrationRegistry) -> None:
    with pytest.raises(RegistrationError, match="needs a BaseIntegration instance"):
        reg.register(Demo)  # type: ignore[arg-type]


def test_newest_version_uses_semver_ordering(reg: IntegrationRegistry) -> None:
    for version in ("1.2.0", "1.10.0", "1.9.3", "2.0.0-beta.1"):
        reg.register(Demo(version=version))
    # 1.10.0 > 1.9.3 > 1.2.0 (not string order); the pre-release is skipped unless pinned.
    assert reg.metadata("demo_echo").version == "1.10.0"
    assert reg.metadata("demo_echo", "1.2.0").version == "1.2.0"
    assert reg.metadata("demo_echo", "2.0.0-beta.1").version == "2.0.0-beta.1"
    assert reg.versions("demo_echo") == ["1.2.0", "1.9.3", "1.10.0", "2.0.0-beta.1"]


def test_prerelease_is_chosen_when_nothing_else_exists(reg: IntegrationRegistry) -> None:
    reg.register(Demo(version="0.1.0-alpha"))
    reg.register(Demo(version="0.1.0-beta"))
    assert reg.metadata("demo_echo").version == "0.1.0-beta"


def test_unknown_id_lists_known_ids_and_suggests(reg: IntegrationRegistry) -> None:
    reg.register(Demo())
    reg.register(Demo("demo_shout"))
    with pytest.raises(IntegrationNotFoundError) as info:
        reg.get("demo_ecko")
    message = str(info.value)
    assert "unknown integration 'demo_ecko'" in message
    assert "did you mean 'demo_echo'" in message
    assert "demo_echo, demo_shout" in message
    assert info.value.code == 404
    assert info.value.integration_id == "demo_ecko"


def test_empty_registry_hints_at_discovery(reg: IntegrationRegistry) -> None:
    with pytest.raises(IntegrationNotFoundError, match=r"was discover\(\) called"):
        reg.get("telegram_send_message")


def test_unknown_version_lists_known_versions(reg: IntegrationRegistry) -> None:
    reg.register(Demo(version="1.2.0"))
    reg.register(Demo(version="1.10.0"))
    with pytest.raises(IntegrationNotFoundError) as info:
        reg.get("demo_echo", "3.0.0")
    assert "has no version '3.0.0'; known versions: 1.2.0, 1.10.0" in str(info.value)
    with pytest.raises(IntegrationNotFoundError, match="not a semantic version"):
        reg.get("demo_echo", "latest")


def test_unavailable_service_resolves_by_prefix(reg: IntegrationRegistry) -> None:
    hint = "pip install 'actionstream[stripe]'"
    assert reg.mark_unavailable("stripe", "its library is missing: No module named 'stripe'", hint)
    assert not reg.mark_unavailable(
        "stripe", "its library is missing: No module named 'stripe'", hint
    )
    with pytest.raises(IntegrationUnavailableError) as info:
        reg.get("stripe_create_payment")
    message = str(info.value)
    assert "'stripe_create_payment' is unavailable" in message
    assert "No module named 'stripe'" in message
    assert hint in message
    assert info.value.install_hint == hint
    assert info.value.code == 501
    # A different service sharing a prefix of the name is not affected.
    with pytest.raises(IntegrationNotFoundError):
        reg.get("stripey_thing")


def test_registered_ids_win_over_an_unavailable_mark(reg: IntegrationRegistry) -> None:
    reg.mark_unavailable("demo", "partially broken")
    demo = Demo()
    reg.register(demo)
    assert reg.get("demo_echo") is demo
    with pytest.raises(IntegrationUnavailableError, match="partially broken"):
        reg.get("demo_other")


def test_list_filters_by_category(reg: IntegrationRegistry) -> None:
    reg.register(Demo())
    reg.register(Demo("weather_now", category="weather"))
    assert [m.id for m in reg.list()] == ["demo_echo", "weather_now"]
    assert [m.id for m in reg.list(category="weather")] == ["weather_now"]
    assert reg.list("news") == []


def test_unregister(reg: IntegrationRegistry) -> None:
    reg.register(Demo(version="1.0.0"))
    reg.register(Demo(version="1.1.0"))
    reg.unregister("demo_echo", "1.1.0")
    assert reg.versions("demo_echo") == ["1.0.0"]
    reg.unregister("demo_echo")
    assert "demo_echo" not in reg
    reg.unregister("demo_echo")  # absent: no error


def test_catalogue_is_json_and_includes_unavailable(reg: IntegrationRegistry) -> None:
    reg.register(Demo(version="1.2.0"))
    reg.register(
        Demo(
            version="1.10.0",
            side_effect="idempotent",
            rate_limits=[{"scope": "credential", "limit": 30, "period_s": 1}],
        )
    )
    reg.mark_unavailable("stripe", "its library is missing", "pip install 'actionstream[stripe]'")
    catalogue = json.loads(reg.export_json())
    assert catalogue == reg.catalogue()
    first, second, missing = catalogue
    assert (first["version"], first["latest"], second["version"], second["latest"]) == (
        "1.2.0",
        False,
        "1.10.0",
        True,
    )
    assert second["available"] is True
    assert second["service"] == "demo"
    assert second["config_schema"] == {"type": "object"}
    assert second["side_effect"] == "idempotent"
    assert second["on_unknown_outcome"] == "report"
    assert second["rate_limits"] == [
        {"scope": "credential", "limit": 30, "period_s": 1.0, "target_field": None}
    ]
    assert missing == {
        "id": None,
        "service": "stripe",
        "available": False,
        "reason": "its library is missing",
        "install_hint": "pip install 'actionstream[stripe]'",
    }


def test_global_registry_exists_and_importing_registers_nothing() -> None:
    assert isinstance(global_registry, IntegrationRegistry)
    assert not any(i.startswith("demo_") for i in global_registry.ids())
