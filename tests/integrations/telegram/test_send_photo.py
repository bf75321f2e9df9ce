"""telegram_send_photo against the fake Bot API: URL / file_id, multipart upload, limits."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError, PermanentError
from integrations.outcome import OutcomeCategory, classify
from integrations.telegram.client import TelegramClientPool
from integrations.telegram.config import decode_upload
from integrations.telegram.send_photo import (
    MAX_PHOTO_BYTES,
    METADATA,
    TelegramSendPhotoIntegration,
)
from integrations.telegram.testing import FakeTelegram
from processors.settings import TelegramSettings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_ID = "6f1c2a9e-0000-4000-8000-000000000001"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class StubResolver:
    """The seed's ``get_default_for``, answering one bot's Telegram token (or nothing)."""

    def __init__(self, token: str | None = TOKEN) -> None:
        self.token = token

    async def get_default_for(
        self, *, bot_id: UUID | str, provider: str, strategy: str
    ) -> dict[str, Any] | None:
        assert (provider, strategy) == ("telegram", "api_key")
        return {"token": self.token} if self.token else None


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def action(fake: FakeTelegram) -> AsyncIterator[TelegramSendPhotoIntegration]:
    settings = TelegramSettings(base_url=fake.base_url, base_file_url=fake.base_file_url)
    async with TelegramClientPool(settings) as pool:
        yield TelegramSendPhotoIntegration(pool)


@pytest.fixture
def logger() -> BotLogger:
    return BotLogger("tests.telegram", bot_id=BOT_ID, integration_id="telegram_send_photo")


async def send(
    action: TelegramSendPhotoIntegration, config: dict[str, Any], logger: BotLogger
) -> dict[str, Any]:
    METADATA.validate_config(config)  # what the processor does before execute()
    return await action.execute(config, StubResolver(), BOT_ID, logger)


async def test_photo_by_url_with_caption_spoiler_and_keyboard(
    action: TelegramSendPhotoIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    keyboard = [[{"text": "Like", "callback_data": "like"}]]
    config = {
        "chat_id": 42,
        "photo": "https://example.com/cat.jpg",
        "caption": "<b>cat</b>",
        "parse_mode": "HTML",
        "has_spoiler": True,
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": keyboard},
    }
    returned = await send(action, config, logger)
    [call] = fake.messages()
    assert (call.token, call.method, call.chat_id) == (TOKEN, "sendPhoto", 42)
    assert call.params == {
        "chat_id": 42,
        "photo": "https://example.com/cat.jpg",  # a URL goes as a plain form field
        "caption": "<b>cat</b>",
        "parse_mode": "HTML",
        "has_spoiler": True,
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": keyboard},
    }
    assert call.files == {}
    result = returned["response"]["result"]
    assert result["caption"] == "<b>cat</b>"
    assert result["has_media_spoiler"] is True
    assert result["photo"][0]["file_id"].startswith("fake-file-")
    assert classify(returned).category is OutcomeCategory.SUCCEEDED


async def test_photo_by_file_id(
    action: TelegramSendPhotoIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    await send(action, {"chat_id": "@pics", "photo": "AgACAgIAAxkBAAIB"}, logger)
    [call] = fake.messages()
    assert call.params["photo"] == "AgACAgIAAxkBAAIB"


async def test_base64_bytes_are_uploaded_as_multipart(
    action: TelegramSendPhotoIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    config = {"chat_id": 7, "photo_base64": base64.b64encode(PNG).decode(), "caption": "up"}
    returned = await send(action, config, logger)
    [call] = fake.messages()
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert call.files["photo"].data == PNG
    assert call.params == {"chat_id": 7, "caption": "up"}
    assert returned["response"]["result"]["photo"][0]["file_size"] == len(PNG)


def test_schema_bounds_base64_to_about_10_mb() -> None:
    too_big = "A" * (MAX_PHOTO_BYTES // 3 * 4 + 8)
    with pytest.raises(InvalidConfigError, match="photo_base64"):
        METADATA.validate_config({"chat_id": 1, "photo_base64": too_big})


def test_metadata_is_at_most_once() -> None:
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REPORT  # never a second photo


def test_decode_upload_checks_encoding_and_size() -> None:
    assert decode_upload("f", base64.b64encode(b"abc").decode(), max_bytes=3) == b"abc"
    with pytest.raises(InvalidConfigError, match="not valid base64"):
        decode_upload("f", "***", max_bytes=10)
    with pytest.raises(InvalidConfigError, match="over Telegram's 3-byte upload limit"):
        decode_upload("f", base64.b64encode(b"abcd").decode(), max_bytes=3)


async def test_errors_name_the_method(
    action: TelegramSendPhotoIntegration, fake: FakeTelegram, logger: BotLogger
) -> None:
    config = {"chat_id": 1, "photo": "https://example.com/a.jpg"}
    fake.inject("blocked", method="sendPhoto")
    with pytest.raises(PermanentError) as caught:
        await send(action, config, logger)
    assert caught.value.code == 403
    assert "sendPhoto" in caught.value.message
    assert "blocked" in caught.value.message


@pytest.mark.parametrize(
    "photo",
    ["/proc/self/environ", "file:///etc/passwd", "../../etc/hosts", "C:\\secrets.txt", "~/.ssh/id"],
)
async def test_a_local_path_is_invalid_config_and_nothing_is_sent(
    action: TelegramSendPhotoIntegration, fake: FakeTelegram, logger: BotLogger, photo: str
) -> None:
    with pytest.raises(InvalidConfigError, match="photo"):
        METADATA.validate_config({"chat_id": 1, "photo": photo})
    with pytest.raises(InvalidConfigError, match=r"\$\.photo: .* local paths"):
        await action.execute({"chat_id": 1, "photo": photo}, StubResolver(), BOT_ID, logger)
    assert fake.messages() == []


async def test_a_file_id_that_names_a_local_file_is_still_sent_as_a_file_id(
    action: TelegramSendPhotoIntegration,
    fake: FakeTelegram,
    logger: BotLogger,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "Dockerfile").write_text("ENV ACTIONSTREAM_CREDENTIALS__ENCRYPTION_KEY=secret")
    monkeypatch.chdir(tmp_path)  # python-telegram-bot would upload ./Dockerfile given the str
    await send(action, {"chat_id": 1, "photo": "Dockerfile"}, logger)
    [call] = fake.messages()
    assert call.params["photo"] == "Dockerfile"
    assert call.files == {}
