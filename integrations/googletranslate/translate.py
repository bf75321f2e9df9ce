"""``googletranslate_translate``: translate text with Google Cloud Translation (Basic, v2)."""

from __future__ import annotations

from typing import Any

from integrations.base import (
    RateLimit,
    RateLimitScope,
    SideEffect,
    UnknownOutcomePolicy,
)
from integrations.bot_logger import BotLogger
from integrations.errors import InvalidConfigError, PermanentError
from integrations.googletranslate.client import GOOGLETRANSLATE, GoogleTranslateIntegration
from integrations.outcome import ok

# Google recommends at most 5,000 characters per request; keeping every request under it also
# lets a request-count limit stand in for Google's per-minute *character* quota (below).
MAX_REQUEST_CHARS = 5000
MAX_SEGMENTS = 128  # v2's limit on q values per request
_LANGUAGE = {"type": "string", "pattern": r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"}
_SEGMENT = {"type": "string", "minLength": 1, "maxLength": MAX_REQUEST_CHARS}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {
            "description": "The text, or up to 128 texts, to translate (5,000 characters in all)",
            "oneOf": [
                _SEGMENT,
                {"type": "array", "items": _SEGMENT, "minItems": 1, "maxItems": MAX_SEGMENTS},
            ],
        },
        "target": {**_LANGUAGE, "description": "Target language (ISO 639), e.g. 'ru', 'zh-TW'"},
        "source": {**_LANGUAGE, "description": "Source language; omit to detect it"},
        "format": {
            "enum": ["text", "html"],
            "default": "text",
            "description": "'text' (default here; Google's own default, html, escapes quotes)",
        },
    },
    "required": ["text", "target"],
    "additionalProperties": False,
}

METADATA = GOOGLETRANSLATE.action(
    "translate",
    name="Google Translate Translate",
    description="Translate text into another language with Google Cloud Translation (Basic, v2); "
    "the source language is detected when not given.",
    config_schema=CONFIG_SCHEMA,
    side_effect=SideEffect.NONE,  # a pure function (each call is billed, but changes nothing)
    timeout_s=20.0,  # above the 15 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # Default quota: 6,000,000 characters per minute per project (v2 and v3). At most 5,000
    # characters per request, 1,200 requests a minute can never exceed it.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=1200, period_s=60.0),),
)


class GoogleTranslateTranslateIntegration(GoogleTranslateIntegration):
    """Translate with ``POST /language/translate/v2`` (Cloud Translation - Basic).

    Config: ``text`` (a string, or a list of up to 128 strings; 5,000 characters in all),
    ``target``, optional ``source`` and ``format`` (``text`` by default, so quotes are not
    HTML-escaped). Credentials: ``{"api_key": "..."}``. Returns ``{"target", "translations":
    [{"text", "detected_source_language"?}]}`` plus ``"text"``, the translation, when ``text``
    was a single string.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        single = isinstance(config["text"], str)
        texts: list[str] = [config["text"]] if single else list(config["text"])
        total = sum(len(t) for t in texts)
        if total > MAX_REQUEST_CHARS:
            raise InvalidConfigError(
                f"$.text: {total} characters in all, over the {MAX_REQUEST_CHARS} allowed per "
                "request; split the text over several requests",
                errors=[f"$.text: {total} characters, over {MAX_REQUEST_CHARS}"],
            )
        body: dict[str, Any] = {
            "q": texts,
            "target": config["target"],
            "format": config.get("format", "text"),
        }
        if "source" in config:
            body["source"] = config["source"]
        reply = await self.call(
            "POST", "/language/translate/v2", params={"key": key}, json=body,
            secrets=[key], what="translate", logger=logger,
        )  # fmt: skip
        translations = _translations(reply.body, len(texts))
        logger.info("googletranslate done", target=config["target"], segments=len(texts))
        result: dict[str, Any] = {"target": config["target"], "translations": translations}
        if single:
            result["text"] = translations[0]["text"]
        return ok(result)


def _translations(answer: dict[str, Any], expected: int) -> list[dict[str, Any]]:
    items = (answer.get("data") or {}).get("translations")
    if not isinstance(items, list) or len(items) != expected:
        raise PermanentError(
            f"Google Translate translate: expected {expected} translations in data.translations",
            code=502,
        )
    translations = []
    for item in items:
        text = item.get("translatedText") if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise PermanentError("Google Translate translate: a translation has no text", code=502)
        entry: dict[str, Any] = {"text": text}
        if isinstance(item.get("detectedSourceLanguage"), str):
            entry["detected_source_language"] = item["detectedSourceLanguage"]
        translations.append(entry)
    return translations
