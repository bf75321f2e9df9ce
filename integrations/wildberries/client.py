"""What Wildberries seller-API actions share: where the token lives and how WB answers errors.

**The wire** (dev.wildberries.ru, "Общее" and "Работа с товарами"): one host per API family
(this package talks to ``https://marketplace-api.wildberries.ru``), JSON bodies, and the seller's
API token **raw** in ``Authorization`` (no ``Bearer`` prefix). One token is issued per seller
with access categories; a token without the "Marketplace" category is refused.

**Errors** come with real HTTP statuses, mapped by :mod:`integrations.provider` (401/403 auth,
429 rate limited, 5xx transient: a read is safe to repeat, other 4xx permanent). Auth and
rate-limit errors are ``application/problem+json`` (``{"title", "detail", "code", "requestId",
"origin", "status", "statusText", "timestamp"}``, its ``code`` an opaque trace id); method errors
are ``{"code", "message", "data"}``. What :class:`Wildberries` adds:

======  =============================  ====================================================
HTTP    our error                      why
======  =============================  ====================================================
400     InvalidConfigError             a WB method error (IncorrectRequestBody,
                                       IncorrectParameter): our values were refused
403     AuthError (403)                said to need the token's "Marketplace" category
429     RateLimitedError               wait ``X-Ratelimit-Retry`` seconds (WB's header;
                                       ``Retry-After`` and the others after it)
======  =============================  ====================================================

WB's token bucket charges failed 4xx requests extra, so nothing here retries on its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import httpx

from integrations.base import Category
from integrations.credentials.fields import SecretField
from integrations.errors import IntegrationError, InvalidConfigError
from integrations.http import KeyedHttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, retry_after_s, status_error
from integrations.service import Service

__all__ = ["WILDBERRIES", "WILDBERRIES_MARKETPLACE_URL", "Wildberries", "WildberriesIntegration"]

WILDBERRIES = Service("wildberries", Category.ECOMMERCE, "#CB11AB")

WILDBERRIES_MARKETPLACE_URL = "https://marketplace-api.wildberries.ru"


class Wildberries(Provider):
    """WB's two error shapes (problem+json, method errors) and its ``X-Ratelimit-Retry``."""

    name = "Wildberries"

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        wait = response.headers.get("x-ratelimit-retry")
        wait_s = retry_after_s(httpx.Headers({"Retry-After": wait})) if wait else None
        if not isinstance(data, dict):
            return ErrorDetail(retry_after_s=wait_s)
        said = [data.get(name) for name in ("title", "detail", "message")]
        text = "; ".join(dict.fromkeys(part for part in said if isinstance(part, str) and part))
        problem = "title" in data  # problem+json: its code is a trace id, not a meaning
        code = data.get("code") if not problem and isinstance(data.get("code"), str) else None
        return ErrorDetail(code=code, message=text or None, retry_after_s=wait_s)

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status = response.status_code
        if status == 400 and detail.code:
            return InvalidConfigError(status_error(call, 400, detail).message)
        if status == 403:
            said = detail.message or "Forbidden"
            need = f"{said}; the token needs the 'Marketplace' category"
            return status_error(call, 403, replace(detail, message=need))
        return None


class WildberriesIntegration(KeyedHttpIntegration):
    """Base of the Wildberries actions: the ``wildberries`` token, sent raw in ``Authorization``.

    Credentials: ``{"token": "<seller API token>"}`` (``api_key`` accepted), strategy ``api_key``.
    """

    service: ClassVar[str] = "wildberries"
    default_base_url: ClassVar[str] = WILDBERRIES_MARKETPLACE_URL
    provider = Wildberries()
    secret = SecretField(
        provider="wildberries", fields=("token", "api_key"),
        example='{"token": "<seller API token with the Marketplace category>"}',
    )  # fmt: skip
    http_timeout_s: ClassVar[float] = 15.0
