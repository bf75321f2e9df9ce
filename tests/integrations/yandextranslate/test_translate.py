"""yandextranslate_translate against the fake Translate API v2 over a real loopback socket.

Only what is Yandex Translate's own: the cases every integration shares are in
``../test_contract.py``; Yandex Cloud's credentials and Status errors are exercised in full in
``../yandexgpt``, and here where Translate differs (no ``folderId`` with an API key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from integrations import errors
from integrations.bot_logger import BotLogger
from integrations.outcome import OutcomeCategory, classify
from integrations.yandextranslate.testing import FakeYandexTranslate
from integrations.yandextranslate.translate import YandexTranslateTranslateIntegration
from support.integrations import Run, http_clients

Resolver = Callable[[dict[str, Any] | None], Any]
HELLO = {"texts": ["Hello, world!"], "target_language": "ru"}
TOKEN = "t1.9euelZqTranslateIamToken0123456789abcdefABCDEF"


async def test_texts_are_translated_with_the_api_key_and_no_folder(
    run: Run, fake: FakeYandexTranslate, resolver: Any, bot_id: str, credentials: dict[str, Any]
) -> None:
    api_key = credentials["api_key"]
    returned = await run({**HELLO, "texts": ["Hello, world!", "Bye"]})
    assert classify(returned).category is OutcomeCategory.SUCCEEDED
    assert returned["response"]["result"] == {
        "target_language": "ru",
        "translations": [
            {"text": "Привет, мир!", "detected_language": "en"},
            {"text": "[ru] Bye", "detected_language": "en"},
        ],
    }
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/translate/v2/translate")
    # A service account's key acts in its own folder: folderId is not sent.
    assert call.body == {
        "texts": ["Hello, world!", "Bye"],
        "targetLanguageCode": "ru",
        "format": "PLAIN_TEXT",
    }
    assert (call.scheme, call.credential) == ("Api-Key", api_key)
    assert resolver.calls == [(bot_id, "yandextranslate", "api_key")]
    assert api_key not in repr(returned)


async def test_source_format_and_speller_reach_yandex(run: Run, fake: FakeYandexTranslate) -> None:
    config = {
        "texts": ["<b>Привет</b>"],
        "target_language": "en",
        "source_language": "ru",
        "format": "HTML",
        "speller": True,
    }
    result = (await run(config))["response"]["result"]
    assert fake.calls[0].body == {
        "texts": ["<b>Привет</b>"],
        "targetLanguageCode": "en",
        "sourceLanguageCode": "ru",
        "format": "HTML",
        "speller": True,
    }
    assert result["translations"] == [{"text": "[en] <b>Привет</b>"}]  # no detection: given


async def test_an_api_key_without_a_folder_is_enough(
    run: Run, make_resolver: Resolver, credentials: dict[str, Any]
) -> None:
    returned = await run(HELLO, credentials=make_resolver({"api_key": credentials["api_key"]}))
    assert returned["response"]["ok"] is True


async def test_an_iam_token_sends_the_folder_in_the_body(
    run: Run, make_resolver: Resolver, credentials: dict[str, Any]
) -> None:
    folder_id = credentials["folder_id"]
    async with (
        FakeYandexTranslate(iam_tokens={TOKEN: {folder_id}}) as fake,
        http_clients("yandextranslate", base_url=fake.url) as clients,
    ):
        action = YandexTranslateTranslateIntegration(clients)
        ok = make_resolver({"iam_token": TOKEN, "folder_id": folder_id})
        assert (await run(HELLO, integration=action, credentials=ok))["response"]["ok"] is True
        with pytest.raises(errors.AuthError, match="no 'folder_id' \\(needed with an IAM token"):
            await run(HELLO, integration=action, credentials=make_resolver({"iam_token": TOKEN}))
        other = make_resolver({"iam_token": TOKEN, "folder_id": "b1gotherfolder000000"})
        with pytest.raises(errors.AuthError) as denied:
            await run(HELLO, integration=action, credentials=other)
    [call, refused] = fake.calls
    assert (call.scheme, call.credential) == ("Bearer", TOKEN)
    assert call.body["folderId"] == folder_id
    assert "x-folder-id" not in {name.lower() for name in call.headers}
    assert refused.status == 403
    assert denied.value.message.startswith("Yandex Translate translate (folder b1gotherfolder")
    assert "'ai.translate.user' role on the folder" in denied.value.message


async def test_over_10000_characters_in_all_is_refused_before_any_call(
    run: Run, fake: FakeYandexTranslate
) -> None:
    config = {"texts": ["x" * 6000, "y" * 4001], "target_language": "ru"}
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run(config)  # each text fits the schema; their sum does not
    assert caught.value.message.startswith("$.texts: 10001 characters in all, over the 10000")
    assert fake.requests == []
    exactly = {"texts": ["x" * 6000, "y" * 4000], "target_language": "ru"}
    assert (await run(exactly))["response"]["ok"] is True


async def test_yandex_refusing_the_values_is_invalid_config(
    run: Run, fake: FakeYandexTranslate
) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run({"texts": ["x"], "target_language": "xx"})  # a code Yandex does not know
    assert "HTTP 400 INVALID_ARGUMENT: unsupported target_language_code: xx" in caught.value.message
    assert fake.calls[0].status == 400


@pytest.mark.parametrize("retry_after_s", [None, 4.0])
async def test_the_character_quota_is_rate_limited(
    run: Run, fake: FakeYandexTranslate, retry_after_s: float | None
) -> None:
    fake.inject("resource_exhausted", message="Quota translate.characters.rate exceeded",
                retry_after_s=retry_after_s)  # fmt: skip
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(HELLO)
    assert caught.value.retry_after_s == retry_after_s
    assert "HTTP 429 RESOURCE_EXHAUSTED: Quota translate.characters.rate" in caught.value.message
    assert classify(caught.value).category is OutcomeCategory.RATE_LIMITED


async def test_a_rejected_key_never_reaches_messages_or_logs(
    run: Run, make_resolver: Resolver, logger: BotLogger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "AQVNwrongTranslateKey0123456789abcdef"
    with pytest.raises(errors.AuthError) as caught:
        await run(HELLO, credentials=make_resolver({"api_key": wrong}))
    assert "Unknown api key" in caught.value.message
    assert wrong not in caught.value.message
    assert wrong not in repr(classify(caught.value, secrets=logger.secrets))
    assert wrong not in caplog.text


async def test_an_answer_with_the_wrong_number_of_translations_is_refused(
    run: Run, fake: FakeYandexTranslate
) -> None:
    fake.fail_next(200, body={"translations": []}, headers={"Content-Type": "application/json"})
    with pytest.raises(errors.PermanentError, match="expected 1 translations"):
        await run(HELLO)


def test_metadata_keeps_to_20_calls_a_second() -> None:
    meta = YandexTranslateTranslateIntegration().metadata
    assert (meta.category.value, meta.credentials_provider) == ("translation", "yandextranslate")
    assert (meta.side_effect.value, meta.on_unknown_outcome.value) == ("none", "reexecute")
    assert [(r.scope.value, r.limit, r.period_s) for r in meta.rate_limits] == [
        ("credential", 20, 1.0)
    ]
