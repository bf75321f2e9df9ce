"""Shared pieces of the OpenAI actions: the SDK client over the worker's httpx client, the
credentials lookup, and OpenAI's own answers.

The official ``openai`` SDK (async client) is used with ``max_retries=0``: the processor owns
retries, back-off and deadlines, so each ``execute`` is exactly one HTTP attempt. The SDK shares
the worker's pooled ``httpx.AsyncClient`` for the service (``http_client=``), and its base URL
comes from the same endpoint settings (``ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__OPENAI__BASE_URL``).

One SDK client per shared httpx client; each request gets a cheap copy carrying the bot's own key
(``with_options(api_key=...)``, about 5 µs), so no two bots ever share an ``Authorization`` header.

**Errors.** The SDK raises its own exceptions; :meth:`OpenAIIntegration.failure` classifies them
with the provider-call seam (:mod:`integrations.provider`): a failed send by
:func:`~integrations.provider.transport_error` (the httpx exception is the SDK error's cause), an
error answer by the :class:`OpenAI` provider and the seam's status table, ``retry-after-ms`` /
``retry-after`` by :func:`~integrations.provider.retry_after_s`, the key scrubbed from OpenAI's
message (a wrong key is echoed partly masked, ``sk-abc***wxyz``). What is OpenAI's own:

=================================  ===================  =========================================
OpenAI answer                      our error (code)     why
=================================  ===================  =========================================
429 insufficient_quota,            PermanentError       no credit: waiting will not help, billing
billing_hard_limit_reached, ...    (429)                has to act
429 "Request too large ..."        PermanentError       one request over the whole tokens-per-
                                   (429)                minute budget: no window will fit it
403 (region, model access)         PermanentError       not the key: a new one will not help
409                                TransientError       a conflict the SDK itself retries
``x-should-retry: false`` on       PermanentError       OpenAI says a retry cannot succeed
408/409/429/5xx
``x-should-retry: true`` on        TransientError       OpenAI says a retry may succeed
another 4xx (not 401/403/429)
200 that is not a completion       TransientError (502) not OpenAI's answer (a proxy's page?)
=================================  ===================  =========================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

import httpx
import openai
from openai import AsyncOpenAI, Omit, omit

from integrations.base import Category, CredentialsResolverLike, SideEffect
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.errors import AuthError, IntegrationError, PermanentError, TransientError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, answer_error, transport_error
from integrations.service import Service

__all__ = [
    "DEFAULT_BASE_URL",
    "OPENAI",
    "OpenAI",
    "OpenAICredentials",
    "OpenAIIntegration",
]

OPENAI = Service("openai", Category.AI, "#10A37F", library="openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Error codes that mean "no money / no quota left": retrying cannot help until a human acts.
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})


class OpenAI(Provider):
    """OpenAI's answers: errors as ``{"error": {"message", "type", "param", "code"}}``."""

    name = "OpenAI"

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        detail = super().detail(response, data)
        request_id = response.headers.get("x-request-id")
        if request_id is None:
            return detail
        return dataclasses.replace(detail, parameters={"request_id": request_id})

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, params = response.status_code, dict(detail.parameters)
        said = _said(status, detail)
        retry = {"true": True, "false": False}.get(
            response.headers.get("x-should-retry", "").lower()
        )
        if status == 429 and detail.code in _QUOTA_CODES:
            return PermanentError(
                call.message(f"{said} (out of quota: check the plan and billing)"),
                code=429,
                parameters=params,
            )
        if status == 429 and (detail.message or "").startswith("Request too large"):
            return PermanentError(
                call.message(f"{said} (shorten the messages or max_completion_tokens)"),
                code=429,
                parameters=params,
            )
        if retry is False and (status in (408, 409, 429) or status >= 500):
            return PermanentError(
                call.message(f"{said} (x-should-retry: false)"), code=status, parameters=params
            )
        if status == 403:  # an unsupported region, a project without the model: not the key
            return PermanentError(call.message(said), code=403, parameters=params)
        if status == 409 or (retry and 400 <= status < 500 and status not in (401, 429)):
            return TransientError(call.message(said), code=status, parameters=params)
        return None


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


class OpenAIIntegration(HttpIntegration, CredentialedIntegration[OpenAICredentials]):
    """Base of the OpenAI actions: the SDK client seam, the credentials lookup, SDK failures."""

    service: ClassVar[str] = OPENAI.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = OpenAI()
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
                base_url=self.clients.base_url(OPENAI.name, DEFAULT_BASE_URL),
                http_client=http,
                max_retries=0,
            )
            self._sdk = (http, base)
        return self._sdk[1].with_options(api_key=credentials.api_key)

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> OpenAICredentials | None:
        """The bot's OpenAI credentials, or ``None`` when it has none."""
        creds = await resolver.get_default_for(
            bot_id=bot_id, provider=OPENAI.name, strategy="api_key"
        )
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

    def call_of(self, what: str, logger: BotLogger) -> Call:
        """The seam's view of one SDK request (``what``, e.g. ``"POST /chat/completions"``),
        scrubbing the logger's secrets (the bot's key among them)."""
        writes = self.metadata.side_effect is not SideEffect.NONE
        return Call(self.provider.name, what, writes, logger.secrets)

    def failure(
        self, call: Call, exc: openai.OpenAIError | IntegrationError, logger: BotLogger
    ) -> IntegrationError:
        """Our typed error for an exception of the SDK (or ours), logged once as the seam does."""
        error = exc if isinstance(exc, IntegrationError) else _classify(call, self.provider, exc)
        logger.warning(
            "%s request failed: %s", call.provider, error.message, category=error.category.value
        )
        return error


def _classify(call: Call, provider: Provider, exc: openai.OpenAIError) -> IntegrationError:
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        cause = exc.__cause__
        if isinstance(cause, IntegrationError):  # the send gate refused it: nothing left
            return cause
        return transport_error(call, cause if isinstance(cause, Exception) else exc)
    if isinstance(exc, openai.APIStatusError):
        return answer_error(call, provider, exc.response)
    return PermanentError(call.message(f"{type(exc).__name__}: {exc}"))


def _said(status: int, detail: ErrorDetail) -> str:
    """What the answer said, as :func:`integrations.provider.status_error` words it."""
    code = f" {detail.code}" if detail.code else ""
    return f"HTTP {status}{code}: {detail.message or 'no message'}"
