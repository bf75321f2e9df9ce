"""``yandextranslate_translate``: translate texts with Yandex Translate (API v2)."""

from __future__ import annotations

from typing import Any

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError, PermanentError
from integrations.outcome import ok
from integrations.yandexcloud import YandexCloudCredentials
from integrations.yandextranslate.client import YANDEXTRANSLATE, YandexTranslateIntegration

# "The maximum total length of all strings is 10000 characters" (Translation.Translate). JSON
# Schema bounds each text and their count; their sum is checked in ``run``.
MAX_REQUEST_CHARS = 10_000
# Yandex documents no count of its own; this one keeps a request of one-character texts sane.
MAX_TEXTS = 1000
# ISO 639-1 codes mostly, but "the field is not limited to it": Yandex also lists "sah", "udm",
# "kazlat", "uzbcyr", "pt-BR".
_LANGUAGE = {"type": "string", "pattern": r"^[a-z]{2,6}(-[A-Za-z]{2,4})?$"}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "texts": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_TEXTS,
            "description": "The texts to translate, 10,000 characters in all",
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_REQUEST_CHARS,
                "description": "One text to translate",
            },
        },
        "target_language": {
            **_LANGUAGE,
            "description": "The language to translate into, e.g. 'en', 'ru', 'pt-BR'",
        },
        "source_language": {
            **_LANGUAGE,
            "description": "The texts' language; omit it and Yandex detects it",
        },
        "format": {
            "enum": ["PLAIN_TEXT", "HTML"],
            "default": "PLAIN_TEXT",
            "description": "PLAIN_TEXT (default) or HTML (markup is kept, text is translated)",
        },
        "speller": {
            "type": "boolean",
            "default": False,
            "description": "Correct the source's spelling before translating",
        },
    },
    "required": ["texts", "target_language"],
    "additionalProperties": False,
}

METADATA = YANDEXTRANSLATE.action(
    "translate",
    name="Yandex Translate Translate",
    description="Translate texts into another language with Yandex Translate (Yandex Cloud); "
    "the source language is detected when not given.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # billed per character, but nothing at Yandex changes
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    timeout_s=20.0,  # above the 15 s HTTP timeout
    # Translate's quotas ("Quotas and limits"): 20 calls of one method a second, and 1,000,000
    # characters an hour. The characters are not a count of calls: a static limit low enough
    # for them (100 full requests an hour) would hold short texts back a hundredfold, so the
    # hourly quota is left to its RESOURCE_EXHAUSTED (429).
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=20, period_s=1.0),),
)


class YandexTranslateTranslateIntegration(YandexTranslateIntegration):
    """Translate with ``POST /translate/v2/translate``.

    Config: ``texts`` (1-1000 strings, 10,000 characters in all), ``target_language``, optional
    ``source_language``, ``format`` (``PLAIN_TEXT`` by default) and ``speller``. Credentials:
    ``{"api_key"}`` or ``{"iam_token", "folder_id"}``. Returns ``{"target_language",
    "translations": [{"text", "detected_language"?}]}``, one per text, in order.
    """

    metadata = METADATA

    async def run(
        self, config: dict[str, Any], credentials: YandexCloudCredentials, logger: BotLogger
    ) -> dict[str, Any]:
        texts: list[str] = list(config["texts"])
        total = sum(map(len, texts))
        if total > MAX_REQUEST_CHARS:
            raise InvalidConfigError(
                f"$.texts: {total} characters in all, over the {MAX_REQUEST_CHARS} Yandex "
                "Translate takes per request; split the texts over several requests",
                errors=[f"$.texts: {total} characters, over {MAX_REQUEST_CHARS}"],
            )
        body: dict[str, Any] = {
            "texts": texts,
            "targetLanguageCode": config["target_language"],
            "format": config.get("format", "PLAIN_TEXT"),
        }
        if "source_language" in config:
            body["sourceLanguageCode"] = config["source_language"]
        if config.get("speller"):
            body["speller"] = True
        what = "translate"
        if credentials.iam:  # a service account's key acts in its own folder: none is sent
            body["folderId"] = credentials.folder_id
            what = f"translate (folder {credentials.folder_id})"
        reply = await self.call(
            "POST", "/translate/v2/translate", json=body, headers=credentials.headers(),
            secrets=[credentials.secret], what=what, logger=logger,
        )  # fmt: skip
        translations = _translations(reply.body, len(texts))
        logger.info(
            "yandextranslate done", target=config["target_language"], texts=len(texts),
            characters=total,
        )  # fmt: skip
        return ok({"target_language": config["target_language"], "translations": translations})


def _translations(answer: dict[str, Any], expected: int) -> list[dict[str, Any]]:
    items = answer.get("translations")
    if not isinstance(items, list) or len(items) != expected:
        raise PermanentError(
            f"Yandex Translate translate: expected {expected} translations in the answer",
            code=502,
        )
    translations = []
    for item in items:
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise PermanentError("Yandex Translate translate: a translation has no text", code=502)
        entry: dict[str, Any] = {"text": text}
        detected = item.get("detectedLanguageCode")
        if isinstance(detected, str) and detected:
            entry["detected_language"] = detected
        translations.append(entry)
    return translations
