"""An integration written exactly as the seed shows works here unchanged.

The fixture package ``seedstyle/weatherdemo`` follows the seed's template line by line:
``__init__.py`` registers into ``from integrations.registry import registry``, and
``get_forecast.py`` asks ``credentials_resolver.get_default_for(...)`` and answers with
the seed's envelopes, including the 401 one when the bot has no credentials.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from integrations.base import BaseIntegration
from integrations.bot_logger import BotLogger
from integrations.discovery import ENTRY_POINT_GROUP, discover
from integrations.errors import InvalidConfigError
from integrations.outcome import OutcomeCategory, classify
from integrations.registry import IntegrationRegistry, registry

SEEDSTYLE = Path(__file__).parent / "seedstyle"
FIXTURE_MODULES = {"weatherdemo", "weatherdemo_sdk"}
INTEGRATION_ID = "weatherdemo_get_forecast"
BOT_ID = "5b0c7f1e-2f4e-4a57-9a43-0d6f0a6f6c11"  # a string, as bot ids arrive from Kafka
API_KEY = "wd-live-3c9f0e2b8a7d"
LOGGER_NAME = "tests.integrations.seedstyle"


class ResolverStub:
    """The one call the seed makes, answered from a dict; records what was asked."""

    def __init__(self, credentials: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.credentials = credentials
        self.calls: list[tuple[UUID | str, str, str]] = []

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        self.calls.append((bot_id, provider, strategy))
        found = self.credentials.get((str(bot_id), provider, strategy))
        return dict(found) if found is not None else None


@pytest.fixture
def seedstyle(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(SEEDSTYLE))
    yield SEEDSTYLE
    for name in [n for n in sys.modules if n.split(".")[0] in FIXTURE_MODULES]:
        del sys.modules[name]
    registry.unregister(INTEGRATION_ID)  # importing the package registered it globally


@pytest.fixture
def global_weatherdemo(seedstyle: Path) -> BaseIntegration:
    """Discover the seed-style package into the process-wide registry, then remove it."""
    assert INTEGRATION_ID not in registry
    discover(builtin=("weatherdemo",), package="", entry_point_group=None)
    return registry.get(INTEGRATION_ID)  # the `seedstyle` fixture unregisters it afterwards


def logger() -> BotLogger:
    return BotLogger(LOGGER_NAME, bot_id=BOT_ID, request_id="req-1", integration_id=INTEGRATION_ID)


async def test_seed_style_integration_succeeds(
    global_weatherdemo: BaseIntegration, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    from weatherdemo_sdk import WeatherClient

    WeatherClient.calls.clear()
    resolver = ResolverStub({(BOT_ID, "weatherdemo", "api_key"): {"token": API_KEY}})
    config = {"city": "Oslo", "days": 2}
    entry = registry.entry(INTEGRATION_ID)
    entry.validate_config(config)

    returned = await global_weatherdemo.execute(config, resolver, BOT_ID, logger())

    assert resolver.calls == [(BOT_ID, "weatherdemo", "api_key")]  # the string id, untouched
    assert WeatherClient.calls == [{"city": "Oslo", "days": 2, "token": API_KEY}]
    outcome = classify(returned)
    assert outcome.category is OutcomeCategory.SUCCEEDED
    assert outcome.response["result"]["city"] == "Oslo"
    assert len(outcome.response["result"]["days"]) == 2
    # The integration logged its credentials in an f-string; the key never reached the log.
    assert "fetching forecast" in caplog.text
    assert API_KEY not in caplog.text


async def test_seed_style_integration_without_credentials_returns_401(
    global_weatherdemo: BaseIntegration,
) -> None:
    resolver = ResolverStub({})
    returned = await global_weatherdemo.execute({"city": "Oslo"}, resolver, BOT_ID, logger())

    assert returned == {
        "response": {"ok": False, "error_code": 401, "description": "Credentials not found"}
    }
    outcome = classify(returned)
    assert outcome.category is OutcomeCategory.AUTH
    assert outcome.code == 401
    assert outcome.retryable is False


async def test_seed_style_integration_accepts_uuid_bot_ids(seedstyle: Path) -> None:
    reg = IntegrationRegistry()
    discover(
        reg, builtin=(), entry_points=[EntryPoint("weatherdemo", "weatherdemo", ENTRY_POINT_GROUP)]
    )
    resolver = ResolverStub({(BOT_ID, "weatherdemo", "api_key"): {"token": API_KEY}})
    returned = await reg.get(INTEGRATION_ID).execute(
        {"city": "Rome"}, resolver, UUID(BOT_ID), logger()
    )
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert resolver.calls == [(UUID(BOT_ID), "weatherdemo", "api_key")]


def test_seed_style_metadata_is_validated_and_catalogued(
    global_weatherdemo: BaseIntegration,
) -> None:
    entry = registry.entry(INTEGRATION_ID)
    with pytest.raises(InvalidConfigError) as info:
        entry.validate_config({"city": "", "days": 9})
    assert set(info.value.errors) == {
        "$.city: '' should be non-empty",
        "$.days: 9 is greater than the maximum of 7",
    }
    [item] = [c for c in registry.catalogue() if c["id"] == INTEGRATION_ID]
    assert item["category"] == "weather"
    assert item["library_name"] == "weatherdemo_sdk"
    assert item["side_effect"] == "non_idempotent"  # the safe default for seed-style code
    assert item["available"] is True
