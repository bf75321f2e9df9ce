"""A fake Yandex Translate API v2: real HTTP on loopback, for tests and demos.

    async with FakeYandexTranslate(api_keys={KEY: FOLDER}) as fake:  # 127.0.0.1:<free port>
        clients = HttpClients({"yandextranslate": EndpointSettings(base_url=fake.url)})
        fake.add_translation("Hello, world!", "ru", "Привет, мир!")
        fake.inject("resource_exhausted")                           # the next call gets a 429
        fake.calls[-1].body, fake.calls[-1].credential              # {"texts": [...]}, KEY

``POST /translate/v2/translate`` takes ``{"texts", "targetLanguageCode", "sourceLanguageCode"?,
"format"?, "folderId"?, "speller"?}`` and answers ``{"translations": [{"text",
"detectedLanguageCode"?}]}`` (the detected language only without ``sourceLanguageCode``).
Unknown phrases come back as ``"[<target>] <text>"``. It refuses, with ``3 INVALID_ARGUMENT``,
more than 10,000 characters in all, an unknown language and a bad format, and an IAM token
without ``folderId``. Auth, folders and the plain ``google.rpc.Status`` errors come from
:class:`~integrations.yandexcloud.testing.FakeYandexCloud`.
"""

from __future__ import annotations

from typing import Any, Unpack

from aiohttp import web

from integrations.testing import ContractSubject
from integrations.yandexcloud.testing import (
    FakeOptions,
    FakeYandexCloud,
    FaultKind,
    RecordedCall,
)

__all__ = ["CONTRACT", "FakeYandexTranslate", "FaultKind", "RecordedCall"]

_LANGUAGE_CODES = (
    "az be bg ca cs da de el en eo es et fi fr hu hy it ja ka kazlat kk ko lt lv mk nl no pl "
    "pt pt-BR ro ru sah sk sl sq sr sv tr tt udm uk uzbcyr uz zh"
)
LANGUAGES = frozenset(_LANGUAGE_CODES.split(" "))
MAX_CHARS = 10_000


class FakeYandexTranslate(FakeYandexCloud):
    """A fake Translate v2 API (see :class:`FakeYandexCloud` for credentials and faults)."""

    path = "/translate/v2/translate"

    def __init__(self, **options: Unpack[FakeOptions]) -> None:
        super().__init__(**options)
        self.phrases: dict[tuple[str, str], str] = {}
        self.add_translation("Hello, world!", "ru", "Привет, мир!")
        self.add_translation("Привет", "en", "Hi")

    def add_translation(self, text: str, target: str, translated: str) -> None:
        """Make ``text`` translate to ``translated`` in ``target``."""
        self.phrases[(text, target)] = translated

    def requested_folder(self, call: RecordedCall) -> str | None:
        folder = call.fields.get("folderId")
        return folder if isinstance(folder, str) and folder else None

    def answer(self, call: RecordedCall, folder: str | None) -> web.Response:
        body = call.fields
        if call.scheme == "Bearer" and folder is None:
            return self.status(3, "folderId is required for a user account")
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.status(3, "texts: must be a non-empty list of strings")
        if sum(map(len, texts)) > MAX_CHARS:
            return self.status(3, f"texts: the total length must not exceed {MAX_CHARS}")
        target, source = body.get("targetLanguageCode"), body.get("sourceLanguageCode")
        if target not in LANGUAGES:
            return self.status(3, f"unsupported target_language_code: {target}")
        if source is not None and source not in LANGUAGES:
            return self.status(3, f"unsupported source_language_code: {source}")
        if body.get("format", "PLAIN_TEXT") not in ("PLAIN_TEXT", "HTML", "FORMAT_UNSPECIFIED"):
            return self.status(3, "format: invalid value")
        translations = []
        for text in texts:
            item: dict[str, Any] = {"text": self.phrases.get((text, target), f"[{target}] {text}")}
            if source is None:
                cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in text)
                item["detectedLanguageCode"] = "ru" if cyrillic else "en"
            translations.append(item)
        return web.json_response({"translations": translations})


CONTRACT_KEY = "AQVNcontract0translate0key0Vd3kX9qL2mT7w"
CONTRACT_FOLDER = "b1gcontract0translat"
_HELLO = {"texts": ["Hello, world!"], "target_language": "ru"}
CONTRACT = ContractSubject(
    service="yandextranslate",
    fake=lambda: FakeYandexTranslate(api_keys={CONTRACT_KEY: CONTRACT_FOLDER}),
    credentials={"api_key": CONTRACT_KEY, "folder_id": CONTRACT_FOLDER},
    configs={"yandextranslate_translate": _HELLO},
    invalid_configs={
        "yandextranslate_translate": [
            ({"target_language": "ru"}, "texts"),
            ({"texts": ["x"]}, "target_language"),
            ({"texts": [], "target_language": "ru"}, "texts"),
            ({"texts": "Hello", "target_language": "ru"}, "texts"),
            ({"texts": [""], "target_language": "ru"}, "texts[0]"),
            ({"texts": ["x" * 10_001], "target_language": "ru"}, "texts[0]"),
            ({"texts": ["x"] * 1001, "target_language": "ru"}, "texts"),
            ({"texts": [5], "target_language": "ru"}, "texts[0]"),
            ({"texts": ["x"], "target_language": "Russian"}, "target_language"),
            ({"texts": ["x"], "target_language": "ru", "source_language": "e"}, "source_language"),
            ({"texts": ["x"], "target_language": "ru", "format": "html"}, "format"),
            ({"texts": ["x"], "target_language": "ru", "speller": "yes"}, "speller"),
            ({"texts": ["x"], "target_language": "ru", "folder_id": "b1g"}, "folder_id"),
        ],
    },
)
