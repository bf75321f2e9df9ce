"""Credentials from the platform's internal HTTP API: the production source of truth."""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from integrations.credentials.errors import (
    CredentialsSourceBrokenError,
    CredentialsUnavailableError,
)
from integrations.credentials.sources.base import json_object

_RETRYABLE_STATUSES = frozenset({408, 425, 429})


log = logging.getLogger("actionstream.credentials")


class HttpCredentialsSource:
    """Asks the platform's internal API for one bot's credentials.

    Contract::

        GET {base_url}/bots/{bot_id}/credentials/{provider}?strategy={strategy}
        Authorization: Bearer <service token>
        Accept: application/json

        200                      the body is the credentials object, e.g. {"token": "123:ABC"}
        404                      the bot has no such credentials    → None
        401, 403                 the service token is wrong         → CredentialsSourceBrokenError
        408, 425, 429, 5xx       the API is overloaded or failing   → CredentialsUnavailableError
        timeout, no connection                                      → CredentialsUnavailableError
        anything else, or a 200 whose body is not a JSON object     → CredentialsSourceBrokenError

    (both are ``CredentialsSourceError``; ``CredentialsUnavailableError`` is the retryable one)

    A mistyped ``base_url`` whose server answers 404 looks like "no credentials" to this contract;
    the resulting "Credentials not found" results name the bot and provider, which points there.

    Pass ``client`` to share a connection pool (the caller then owns and closes it); otherwise the
    source opens its own and closes it in :meth:`aclose`. Headers and timeouts are set per request,
    so either way they apply. Error messages carry the status and URL, never a response body
    (it may echo secrets) and never the token.
    """

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = httpx.Timeout(timeout_s)
        self._timeout_s = timeout_s
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(verify=verify)

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        url = (
            f"{self._base_url}/bots/{quote(bot_id, safe='')}/credentials/{quote(provider, safe='')}"
        )
        # Results and dead letters carry these messages: they name the provider, never the
        # internal URL (the worker's log has it, below).
        where = f"the credentials API (provider {provider!r}, strategy {strategy!r})"
        try:
            response = await self._client.get(
                url,
                params={"strategy": strategy},
                headers={
                    "Authorization": f"Bearer {self._token.get_secret_value()}",
                    "Accept": "application/json",
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            log.warning("credentials API GET %s timed out", url)
            raise CredentialsUnavailableError(
                f"{where} timed out after {self._timeout_s}s"
            ) from None
        except httpx.TransportError as exc:
            log.warning("credentials API GET %s failed: %s", url, exc)
            raise CredentialsUnavailableError(f"{where} failed: {type(exc).__name__}") from None
        status = response.status_code
        if status != 200 and status != 404:
            log.warning("credentials API GET %s answered %d", url, status)
        if status == 200:
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise CredentialsSourceBrokenError(
                    f"{where} answered 200 with a body that is not JSON"
                ) from None
            return json_object(body, where=f"the body of {where}")
        if status == 404:
            return None
        if status in (401, 403):
            raise CredentialsSourceBrokenError(
                f"{where} answered {status}: the service token was rejected; check "
                "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN"
            )
        if status >= 500 or status in _RETRYABLE_STATUSES:
            raise CredentialsUnavailableError(f"{where} answered {status}")
        raise CredentialsSourceBrokenError(f"{where} answered {status}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
