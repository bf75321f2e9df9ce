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
    CredentialsSourceError,
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

    Renewed OAuth tokens go back with :meth:`store`::

        PUT {base_url}/bots/{bot_id}/credentials/{provider}?strategy={strategy}
        Authorization: Bearer <service token>
        If-Match: "<version the refresher read>"    (If-None-Match: * when it had no version)
        Content-Type: application/json              the whole credentials object, version + 1

        200, 204                 stored
        409, 412                 another writer stored a newer version first → False
        anything else            as for GET (unavailable or broken)

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
        # Results and dead letters carry these messages: they name the provider, never the
        # internal URL (the worker's log has it).
        where = f"the credentials API (provider {provider!r}, strategy {strategy!r})"
        response = await self._send("GET", bot_id, provider, strategy, where)
        status = response.status_code
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
        raise self._failure(status, where, "rejected")

    async def store(
        self,
        bot_id: str,
        provider: str,
        strategy: str,
        credentials: dict[str, Any],
        *,
        expected_version: int | None,
    ) -> bool:
        where = f"the credentials API (storing provider {provider!r}, strategy {strategy!r})"
        precondition = (
            {"If-None-Match": "*"}
            if expected_version is None
            else {"If-Match": f'"{expected_version}"'}
        )
        response = await self._send(
            "PUT", bot_id, provider, strategy, where, body=credentials, headers=precondition
        )
        status = response.status_code
        if status in (200, 204):
            return True
        if status in (409, 412):
            return False
        raise self._failure(status, where, "not allowed to write credentials")

    async def _send(
        self,
        method: str,
        bot_id: str,
        provider: str,
        strategy: str,
        where: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        url = (
            f"{self._base_url}/bots/{quote(bot_id, safe='')}/credentials/{quote(provider, safe='')}"
        )
        try:
            response = await self._client.request(
                method,
                url,
                params={"strategy": strategy},
                json=body,
                headers={
                    "Authorization": f"Bearer {self._token.get_secret_value()}",
                    "Accept": "application/json",
                    **(headers or {}),
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            log.warning("credentials API %s %s timed out", method, url)
            raise CredentialsUnavailableError(
                f"{where} timed out after {self._timeout_s}s"
            ) from None
        except httpx.TransportError as exc:
            log.warning("credentials API %s %s failed: %s", method, url, exc)
            raise CredentialsUnavailableError(f"{where} failed: {type(exc).__name__}") from None
        if response.status_code not in (200, 204, 404):
            log.warning("credentials API %s %s answered %d", method, url, response.status_code)
        return response

    @staticmethod
    def _failure(status: int, where: str, token_was: str) -> CredentialsSourceError:
        if status in (401, 403):
            return CredentialsSourceBrokenError(
                f"{where} answered {status}: the service token was {token_was}; check "
                "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN"
            )
        if status >= 500 or status in _RETRYABLE_STATUSES:
            return CredentialsUnavailableError(f"{where} answered {status}")
        return CredentialsSourceBrokenError(f"{where} answered {status}")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
