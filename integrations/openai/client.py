"""Shared pieces of the OpenAI actions: the SDK client over the worker's httpx client, the
credentials lookup and the mapping of the SDK's errors to ours.

The official ``openai`` SDK (async client) is used with ``max_retries=0``: the processor owns
retries, back-off and deadlines, so each ``execute`` is exactly one HTTP attempt. The SDK shares
the worker's pooled ``httpx.AsyncClient`` for the service (``http_client=``), and its base URL
comes from the same endpoint settings (``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL``).

One SDK client per shared httpx client; each request gets a cheap copy carrying the bot's own key
(``with_options(api_key=...)``, about 5 µs), so no two bots ever share an ``Authorization`` header.
"""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

import httpx
import openai
from openai import AsyncOpenAI, Omit, omit

from integrations.base import CredentialsResolverLike
from integrations.bot_logger import BotLogger, SecretSet, redact_text
from integrations.errors import (
    AuthError,
    IntegrationError,
    InvalidConfigError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.http import HttpIntegration

__all__ = [
    "DEFAULT_BASE_URL",
    "SERVICE",
    "OpenAICredentials",
    "OpenAIIntegration",
    "map_openai_error",
    "retry_after_s",
]

SERVICE = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Error codes that mean "no money / no quota left": retrying cannot help until a human acts.
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})


@dataclass(frozen=True, slots=True)
class OpenAICredentials:
    """A bot's OpenAI credentials: ``{"api_key": "sk-...", "organization"?, "project"?}``."""

    api_key: str = field(repr=False)
    organization: str | None = None
    project: str | None = None

    def headers(self) -> dict[str, str | Omit]:
        """Per-request ``OpenAI-Organization`` / ``OpenAI-Project`` headers, removed when the bot
        has none. Not ``with_options(organization=...)``: the SDK fills a missing one from the
        worker's ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``, which would tag every bot's requests
        with the host's organization."""
        return {
            "OpenAI-Organization": self.organization or omit,
            "OpenAI-Project": self.project or omit,
        }


class OpenAIIntegration(HttpIntegration):
    """Base of the OpenAI actions: the SDK client seam and the credentials lookup."""

    service: ClassVar[str] = SERVICE
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    # Completions of long answers take a while; below the action's timeout_s so a slow model ends
    # as the SDK's APITimeoutError (mapped), not as a cancellation by the processor.
    http_timeout_s: ClassVar[float] = 100.0

    _sdk: tuple[httpx.AsyncClient, AsyncOpenAI] | None = None

    def sdk(self, credentials: OpenAICredentials) -> AsyncOpenAI:
        """An SDK client for one request: the bot's key over the shared httpx client.

        Send ``credentials.headers()`` as the request's ``extra_headers`` as well: they set (or
        remove) the organization and project headers for this bot.
        """
        http = self.http
        if self._sdk is None or self._sdk[0] is not http:
            base = AsyncOpenAI(
                api_key="unset",  # never sent: every request gets a copy with the bot's key
                base_url=self.clients.base_url(SERVICE, DEFAULT_BASE_URL),
                http_client=http,
                max_retries=0,
            )
            self._sdk = (http, base)
        return self._sdk[1].with_options(api_key=credentials.api_key)

    async def openai_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> OpenAICredentials | None:
        """The bot's OpenAI credentials, or ``None`` when it has none."""
        creds = await resolver.get_default_for(bot_id=bot_id, provider=SERVICE, strategy="api_key")
        if not creds:
            return None
        key = creds.get("api_key")
        if not isinstance(key, str) or not key.strip():
            raise AuthError(
                "the bot's 'openai' credentials have no 'api_key'; store them as "
                '{"api_key": "sk-...", "organization": "org-..." (optional), '
                '"project": "proj_..." (optional)}'
            )
        logger.add_secret([key, key.strip()])
        org, project = creds.get("organization"), creds.get("project")
        return OpenAICredentials(
            key.strip(),
            org if isinstance(org, str) and org else None,
            project if isinstance(project, str) and project else None,
        )


def retry_after_s(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """OpenAI's retry hint: ``retry-after-ms`` (milliseconds) first, then ``retry-after``
    (seconds, possibly fractional, or an HTTP-date), as the SDK reads them. Unlike the SDK we
    keep values above 120 s: the processor decides against the request's deadline."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return value if math.isfinite(value) and value >= 0 else None


def _should_retry(headers: httpx.Headers) -> bool | None:
    value = headers.get("x-should-retry")
    return {"true": True, "false": False}.get(value.lower()) if value else None


def map_openai_error(exc: openai.OpenAIError, *, api_key: str = "") -> IntegrationError:
    """Our typed error for an exception of the ``openai`` SDK.

    The code is the HTTP status OpenAI answered; the class carries the decision. OpenAI's own
    message is kept (it says what to fix) with the key scrubbed from it: a wrong key is echoed
    partly masked (``sk-abc***wxyz``).
    """
    secrets = SecretSet([api_key]) if api_key else None
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        cause = exc.__cause__
        name = type(cause).__name__ if cause is not None else type(exc).__name__
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransientError(f"OpenAI: not sent, could not connect ({name})", code=503)
        # Sent, no answer: the completion may have run (and been billed).
        if isinstance(exc, openai.APITimeoutError):
            return OutcomeUnknownError(f"OpenAI: timed out waiting for the completion ({name})")
        return OutcomeUnknownError(f"OpenAI: connection lost mid-request ({name})", code=502)
    if not isinstance(exc, openai.APIStatusError):
        return PermanentError(f"OpenAI: {type(exc).__name__}: {redact_text(str(exc), secrets)}")

    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code") or body.get("type")
    text = body.get("message") if isinstance(body.get("message"), str) else None
    detail = redact_text(text or exc.response.reason_phrase or "no message", secrets)
    label = f"OpenAI HTTP {status}" + (f" {code}" if code else "")
    message = f"{label}: {detail}"
    params = {"request_id": exc.request_id} if exc.request_id else None
    should_retry = _should_retry(exc.response.headers)

    if status == 429 and (code in _QUOTA_CODES or body.get("type") in _QUOTA_CODES):
        # Same status as a rate limit, but no amount of waiting helps: billing has to act.
        return PermanentError(
            f"{message} (out of quota: check the plan and billing)", code=429, parameters=params
        )
    if status == 429 and (text or "").startswith("Request too large"):
        # Also "rate_limit_exceeded" (type "tokens"), but this one request is bigger than the
        # whole tokens-per-minute budget: no window will ever fit it.
        return PermanentError(
            f"{message} (shorten the messages or max_completion_tokens)",
            code=429,
            parameters=params,
        )
    if status == 401:
        return AuthError(message, code=401, parameters=params)
    if should_retry is False and (status in (408, 409, 429) or status >= 500):
        return PermanentError(f"{message} (x-should-retry: false)", code=status, parameters=params)
    if status == 429:
        wait = retry_after_s(exc.response.headers)
        return RateLimitedError(message, retry_after_s=wait, parameters=params)
    if status in (408, 409) or status >= 500 or should_retry is True:
        return TransientError(message, code=status, parameters=params)
    if status == 422:
        return InvalidConfigError(message, code=422, parameters=params)
    # 400 (context_length_exceeded, invalid values), 403 (region, model access), 404
    # (model_not_found): OpenAI will say the same again.
    return PermanentError(message, code=status, parameters=params)
