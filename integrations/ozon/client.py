"""What Ozon Seller API actions share: the seller's two credentials and how Ozon answers errors.

**The wire** (Ozon's Seller API swagger, "Документация Ozon Seller API" 2.1, read through public
mirrors of it in December 2026): ``POST https://api-seller.ozon.ru/<version>/<method>`` with a
JSON body and two headers, ``Client-Id`` (the seller account's number) and ``Api-Key`` (a key
issued in the seller cabinet with a role). Both are kept as secrets: the pair is the seller's
identity, and neither is ever put in a URL or a message.

**Errors** are grpc-gateway statuses: a real HTTP status with ``{"code": <gRPC code>, "message",
"details": [{"typeUrl", "value"}]}``. :mod:`integrations.provider` maps them by status (401/403
auth, 429 rate limited, 5xx transient: every action here is a read, other 4xx permanent); what
:class:`Ozon` adds:

============================  =======================  =====================================
answer                        our error (code)         why
============================  =======================  =====================================
400 with Ozon's body          InvalidConfigError       the request's values were refused
                                                       (gRPC 3 INVALID_ARGUMENT)
403 code 7                    AuthError (403)          PERMISSION_DENIED: the key's role does
                                                       not include the method; the hint says so
any error with code 8         RateLimitedError         RESOURCE_EXHAUSTED ("You have reached
                                                       request rate limit per second"), sent
                                                       with 429; no Retry-After is documented
2xx without ``items``         TransientError (502)     not Ozon's answer (a proxy's)
============================  =======================  =====================================

Verified (search tool, December 2026): the host, the headers, the error body and the
``/v4/product/info/stocks`` shapes in the swagger mirror at apifox.com (docs-site 3531025) and a
Russian digest of the same swagger; code 7's wording on openintegrations.dev. Not verified in an
official source: the 429 body with code 8 and the 50 requests/s per Client-Id (both from
docs.hyp.ru, which cites Ozon's developer channel).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar
from uuid import UUID

import httpx

from integrations.base import Category, CredentialsResolverLike
from integrations.bot_logger import BotLogger
from integrations.credentialed import CredentialedIntegration
from integrations.errors import AuthError, IntegrationError, InvalidConfigError
from integrations.http import HttpIntegration
from integrations.provider import Call, ErrorDetail, Provider, status_error
from integrations.service import Service

__all__ = ["OZON", "OZON_SELLER_URL", "Ozon", "OzonIntegration", "OzonKeys"]

OZON = Service("ozon", Category.ECOMMERCE, "#005BFF")

OZON_SELLER_URL = "https://api-seller.ozon.ru"

_PERMISSION_DENIED, _RESOURCE_EXHAUSTED = "7", "8"  # gRPC status codes in Ozon's bodies
_EXAMPLE = '{"client_id": "<Client-Id, digits>", "api_key": "<Api-Key from the seller cabinet>"}'
_MAX_CLIENT_ID_DIGITS = 20  # an int64 has at most 19


class Ozon(Provider):
    """Ozon's grpc-gateway answers: a real status and ``{"code", "message", "details"}``."""

    name = "Ozon"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        found = isinstance(data, dict) and isinstance(data.get("items"), list)
        return not response.is_success or not found

    def detail(self, response: httpx.Response, data: Any) -> ErrorDetail:
        if not isinstance(data, dict):
            return ErrorDetail()
        code, message = data.get("code"), data.get("message")
        return ErrorDetail(
            code=str(code) if isinstance(code, int) and not isinstance(code, bool) else None,
            message=message if isinstance(message, str) and message else None,
        )

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        status, code = response.status_code, detail.code
        if code == _RESOURCE_EXHAUSTED and not response.is_success:
            return status_error(call, 429, detail, headers=response.headers)
        if status == 400 and code is not None:
            return InvalidConfigError(status_error(call, 400, detail).message)
        if status == 403 and code == _PERMISSION_DENIED:
            hint = (
                f"{detail.message or 'permission denied'}; give the API key a role with {call.what}"
            )
            return status_error(call, 403, replace(detail, message=hint))
        return None


@dataclass(frozen=True, slots=True)
class OzonKeys:
    """A seller's Seller API credentials: the ``Client-Id`` (digits) and the ``Api-Key``."""

    client_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Client-Id": self.client_id, "Api-Key": self.api_key}

    @classmethod
    def from_credentials(cls, creds: dict[str, Any]) -> OzonKeys:
        """Validate ``{"client_id", "api_key"}``; :class:`AuthError` naming the field otherwise."""
        raw_id, key = creds.get("client_id"), creds.get("api_key")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool) and raw_id > 0:
            raw_id = str(raw_id)
        if not isinstance(raw_id, str) or not raw_id.strip():
            raise AuthError(
                f"the bot's 'ozon' credentials have no 'client_id'; store them as {_EXAMPLE}"
            )
        client_id = raw_id.strip()
        if (
            not (client_id.isascii() and client_id.isdigit())
            or len(client_id) > _MAX_CLIENT_ID_DIGITS
        ):
            raise AuthError(
                "the bot's 'ozon' credentials have a malformed 'client_id': the Client-Id is the "
                "seller account's number (digits only, from Settings > API keys)"
            )
        if not isinstance(key, str) or not key.strip():
            raise AuthError(
                f"the bot's 'ozon' credentials have no 'api_key'; store them as {_EXAMPLE}"
            )
        api_key = key.strip()
        if not api_key.isascii() or not api_key.isprintable():
            raise AuthError(
                "the bot's 'ozon' credentials have a malformed 'api_key': it must be the key as "
                "the seller cabinet shows it (printable ASCII)"
            )
        return cls(client_id, api_key)


class OzonIntegration(HttpIntegration, CredentialedIntegration[OzonKeys]):
    """Base of the Ozon actions: the ``ozon`` credentials and how Ozon answers.

    Credentials: ``{"client_id": "<digits>", "api_key": "<key>"}``, strategy ``api_key``.
    """

    service: ClassVar[str] = "ozon"
    default_base_url: ClassVar[str] = OZON_SELLER_URL
    provider = Ozon()
    http_timeout_s: ClassVar[float] = 15.0

    async def read_credentials(
        self, resolver: CredentialsResolverLike, bot_id: UUID | str, logger: BotLogger
    ) -> OzonKeys | None:
        """The seller's keys, or ``None`` when the bot has no ``ozon`` credentials."""
        creds = await resolver.get_default_for(
            bot_id=bot_id, provider=OZON.name, strategy="api_key"
        )
        if not creds:
            return None
        # Registered before validating: a malformed value must not reach a log line either.
        logger.add_secret([v for v in (creds.get("client_id"), creds.get("api_key")) if v])
        keys = OzonKeys.from_credentials(creds)
        logger.add_secret([keys.client_id, keys.api_key])
        return keys

    async def seller_call(
        self, path: str, body: dict[str, Any], *, what: str, logger: BotLogger, keys: OzonKeys
    ) -> dict[str, Any]:
        """POST ``body`` to the Seller API method at ``path``; its JSON object, or a typed error."""
        reply = await self.call(
            "POST", path, json=body, headers=keys.headers, secrets=[keys.client_id, keys.api_key],
            what=what, logger=logger,
        )  # fmt: skip
        return reply.body
