"""A fake Google Cloud Translation v2 API: real HTTP on loopback, for tests and demos.

    async with FakeGoogleTranslate() as fake:             # 127.0.0.1:<free port>
        clients = HttpClients({"googletranslate": EndpointSettings(base_url=fake.url)})
        fake.add_translation("Hello", "ru", "Привет")
        fake.inject("user_rate_limit")                    # the next call gets Google's 403
        fake.calls[-1].body                               # {"q": [...], "target": ...}

``POST /language/translate/v2?key=...`` takes JSON (or a form) with ``q`` (repeatable), ``target``,
``source`` and ``format`` and answers ``{"data": {"translations": [{"translatedText",
"detectedSourceLanguage"?}]}}`` (the detected language only when ``source`` is omitted).
Unknown phrases come back as ``"[<target>] <text>"``; with ``format=html`` (Google's default)
the result is HTML-escaped, so ``it's`` comes back as ``it&#39;s``, as Google does.

Errors are Google's JSON (``error.code``, ``message``, ``errors[].reason``, ``status``,
``details`` for ``API_KEY_INVALID``) with Google's statuses: **403** for the per-minute rate
limit (``userRateLimitExceeded``) and for a daily quota (``dailyLimitExceeded``), **400** for a
bad key (``API key not valid``) and for invalid values, 403 for a missing key;
``fail_next(status)`` answers in that shape too, with the reason Google gives the status.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer

__all__ = ["CONTRACT", "FakeGoogleTranslate", "FaultKind", "RecordedCall"]

FaultKind = Literal[
    "user_rate_limit",  # 403 userRateLimitExceeded (Google's per-minute quota)
    "rate_limit_429",  # 429 RESOURCE_EXHAUSTED + RetryInfo (as newer Google front ends answer)
    "daily_limit",  # 403 dailyLimitExceeded
    "key_invalid",  # 400 API key not valid (API_KEY_INVALID)
    "api_disabled",  # 403 accessNotConfigured / SERVICE_DISABLED
    "invalid_value",  # 400 invalid
]
_LANGUAGE_CODES = (
    "af ar az be bg bn ca cs cy da de el en eo es et eu fa fi fr ga gl gu he hi hr hu hy id is it "
    "ja ka kk km kn ko ky la lt lv mk ml mn mr ms mt my ne nl no pa pl pt pt-PT ro ru sk sl sq sr "
    "sv sw ta te tg th tk tl tr tt uk ur uz vi yi zh zh-CN zh-TW zu"
)
LANGUAGES = frozenset(_LANGUAGE_CODES.split(" "))

# What Google answers each HTTP status with (errors[].reason, error.status).
_REASON_OF = {
    400: ("badRequest", "INVALID_ARGUMENT"),
    401: ("authError", "UNAUTHENTICATED"),
    403: ("forbidden", "PERMISSION_DENIED"),
    429: ("rateLimitExceeded", "RESOURCE_EXHAUSTED"),
    503: ("backendError", "UNAVAILABLE"),
}


def _google_error(
    status: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    state: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if state:
        error["status"] = state
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)


def _key_invalid() -> web.Response:
    message = "API key not valid. Please pass a valid API key."
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "translate.googleapis.com"},
    }
    return _google_error(400, message, "badRequest", state="INVALID_ARGUMENT", details=[info])


_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
# The faults Google words in its usageLimits domain: (HTTP status, message, reason, status).
_USAGE_FAULTS: dict[str, tuple[int, str, str, str]] = {
    "user_rate_limit": (
        403,
        "User Rate Limit Exceeded",
        "userRateLimitExceeded",
        "PERMISSION_DENIED",
    ),
    "rate_limit_429": (
        429,
        "Quota exceeded for quota metric 'v2 and v3 general model characters' and limit 'per "
        "minute per user'",
        "rateLimitExceeded",
        "RESOURCE_EXHAUSTED",
    ),
    "daily_limit": (403, "Daily Limit Exceeded", "dailyLimitExceeded", "PERMISSION_DENIED"),
    "api_disabled": (
        403,
        "Cloud Translation API has not been used in project 1234 before or it is disabled.",
        "accessNotConfigured",
        "PERMISSION_DENIED",
    ),
}


def _fault_response(kind: FaultKind, retry_after: int) -> web.Response:
    if kind == "key_invalid":
        return _key_invalid()
    if kind not in _USAGE_FAULTS:  # "invalid_value"
        return _google_error(400, "Invalid Value", "invalid", state="INVALID_ARGUMENT")
    status, message, reason, state = _USAGE_FAULTS[kind]
    details = None
    if kind == "rate_limit_429":  # newer front ends say how long to wait
        details = [{"@type": _RETRY_INFO, "retryDelay": f"{retry_after}s"}]
    return _google_error(
        status, message, reason, domain="usageLimits", state=state, details=details
    )


def _escape(text: str) -> str:
    """HTML-escape as Google does (``'`` becomes ``&#39;``, not Python's ``&#x27;``)."""
    return html.escape(text, quote=False).replace('"', "&quot;").replace("'", "&#39;")


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]  # the query string (key=...)
    body: dict[str, Any]  # JSON body, or the form with q as a list


@dataclass(slots=True, kw_only=True)
class _Injection(BaseInjection[FaultKind]):
    retry_after: int


class FakeGoogleTranslate(FakeServer[RecordedCall, _Injection]):
    """A fake Translation v2 API on ``host:port`` (0: a free port), started by ``async with``.

    Keys: any non-empty ``key`` is accepted unless ``api_keys`` lists the valid ones.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_keys: Iterable[str] | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_keys = None if api_keys is None else set(api_keys)
        self.phrases: dict[tuple[str, str], str] = {}
        self.add_translation("Hello, world!", "ru", "Привет, мир!")
        self.add_translation("Привет", "en", "Hi")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/language/translate/v2", self._handle)

    def add_translation(self, text: str, target: str, translated: str) -> None:
        """Make ``text`` translate to ``translated`` in ``target``."""
        self.phrases[(text, target)] = translated

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after: int = 30,
    ) -> None:
        """Make the next ``times`` requests (None: all) fail with ``kind``; ``retry_after`` is
        the RetryInfo delay of "rate_limit_429". Other HTTP statuses, stalls and dropped
        connections: ``fail_next``, ``stall_next``, ``drop_next``."""
        self.queue(_Injection(kind=kind, remaining=times, retry_after=retry_after))

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """``fail_next(status)``: Google's error body with the reason and state of ``status``."""
        headers = self.retry_after(retry_after_s)
        default = (
            ("backendError", "INTERNAL") if status >= 500 else ("badRequest", "FAILED_PRECONDITION")
        )
        reason, state = _REASON_OF.get(status, default)
        return _google_error(status, message, reason, state=state, headers=headers)

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = {}
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                parsed = await request.json()
                body = parsed if isinstance(parsed, dict) else {}
        elif request.can_read_body:
            form = await request.post()
            body = {k: v for k, v in form.items() if k != "q" and isinstance(v, str)}
            body["q"] = [v for v in form.getall("q", []) if isinstance(v, str)]
        call = RecordedCall(
            method=request.method,
            path=request.path,
            params=dict(request.query),
            body=body,
            headers=dict(request.headers),
        )
        self.calls.append(call)
        injection = self.take_injection()
        if injection is not None:
            response = _fault_response(injection.kind, injection.retry_after)
        else:
            response = self._translate(call)
        call.status = response.status
        return response

    def _translate(self, call: RecordedCall) -> web.Response:
        key = call.params.get("key")
        if not key:
            return _google_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
                "forbidden",
                state="PERMISSION_DENIED",
            )
        if self.api_keys is not None and key not in self.api_keys:
            return _key_invalid()
        body = call.body
        texts = body.get("q")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts:
            return _google_error(400, "Required Text", "required", state="INVALID_ARGUMENT")
        if len(texts) > 128:
            return _google_error(400, "Too many text segments", "invalid", state="INVALID_ARGUMENT")
        target, source = body.get("target"), body.get("source")
        if target not in LANGUAGES or (source is not None and source not in LANGUAGES):
            return _google_error(400, "Invalid Value", "invalid", state="INVALID_ARGUMENT")
        escape = body.get("format", "html") == "html"
        translations = []
        for text in texts:
            out = self.phrases.get((str(text), str(target)), f"[{target}] {text}")
            item: dict[str, Any] = {"translatedText": _escape(out) if escape else out}
            if source is None:
                cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in str(text))
                item["detectedSourceLanguage"] = "ru" if cyrillic else "en"
            translations.append(item)
        return web.json_response({"data": {"translations": translations}})


CONTRACT_KEY = "AIzaSyCONTRACT-translate-key-0123456789"
CONTRACT = ContractSubject(
    service="googletranslate",
    fake=lambda: FakeGoogleTranslate(api_keys=[CONTRACT_KEY]),
    credentials={"api_key": CONTRACT_KEY},
    configs={"googletranslate_translate": {"text": "Hello, world!", "target": "ru"}},
    invalid_configs={
        "googletranslate_translate": [
            ({"target": "ru"}, "text"),
            ({"text": "x"}, "target"),
            ({"text": "", "target": "ru"}, "text"),
            ({"text": [], "target": "ru"}, "text"),
            ({"text": ["x"] * 129, "target": "ru"}, "text"),
            ({"text": "x" * 5001, "target": "ru"}, "text"),
            ({"text": 5, "target": "ru"}, "text"),
            ({"text": "x", "target": "russian"}, "target"),
            ({"text": "x", "target": "ru", "source": "r"}, "source"),
            ({"text": "x", "target": "ru", "format": "markdown"}, "format"),
            ({"text": "x", "target": "ru", "model": "nmt"}, "model"),
        ],
    },
)
