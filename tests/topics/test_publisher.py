"""The bot runtime's publisher: validation and Connection Groups (no broker needed to refuse)."""

from __future__ import annotations

import pytest

from integrations.discovery import discover
from integrations.errors import InvalidConfigError
from integrations.registry import IntegrationRegistry
from processors.settings import Settings
from topics.publisher import ConnectionGroupError, RequestPublisher, render_config


@pytest.fixture
async def publisher() -> RequestPublisher:
    registry = IntegrationRegistry()
    discover(registry)
    # Never started: everything here is refused before anything is sent.
    return RequestPublisher.from_settings(Settings(), registry=registry)


def test_config_is_validated_against_the_local_catalogue(publisher: RequestPublisher) -> None:
    with pytest.raises(InvalidConfigError, match=r"\$\.text"):
        publisher.build("bot-1", "telegram_send_message", {"chat_id": 1, "text": ""})
    request = publisher.build("bot-1", "telegram_send_message", {"chat_id": 1, "text": "hi"})
    assert request.bot_id == "bot-1"
    assert request.config_dict() == {"chat_id": 1, "text": "hi"}


async def test_connection_group_must_be_an_integration_group(publisher: RequestPublisher) -> None:
    with pytest.raises(ConnectionGroupError, match="search_type is 'faq'"):
        await publisher.publish_connection_group("bot-1", {"search_type": "faq"})
    with pytest.raises(ConnectionGroupError, match="no integration_id"):
        await publisher.publish_connection_group("bot-1", {"search_type": "integration"})


def test_connection_group_placeholders_are_filled_from_the_context() -> None:
    config = {"chat_id": "{{ user.chat_id }}", "text": "Hello, {{user.name}}!", "n": 3}
    rendered = render_config(config, {"user": {"chat_id": 42, "name": "Ann"}})
    assert rendered == {"chat_id": 42, "text": "Hello, Ann!", "n": 3}
    with pytest.raises(ConnectionGroupError, match=r"\{\{ user\.email \}\}"):
        render_config({"to": "{{ user.email }}"}, {"user": {}})
