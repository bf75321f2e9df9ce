"""A small async client for the Confluent Schema Registry REST API.

Only the three calls the codec needs: register a schema under a subject, look a schema up under a
subject, fetch a schema by id. Answers are cached for the life of the client (ids and schemas never
change in a registry), so each is asked at most once per process. The HTTP seam is an
``httpx.AsyncBaseTransport``; tests point the client at a real server on loopback.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Self
from urllib.parse import quote

import httpx

from schemas.errors import SchemaRegistryError

__all__ = ["SchemaRegistryClient"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryClient:
    """Register, look up and fetch Avro schemas in a Confluent-compatible Schema Registry.

    ``url`` is the registry's base URL (``http://127.0.0.1:8081``); basic-auth credentials go in
    ``auth``, never in log lines or error messages. Use it as an async context manager, or call
    :meth:`aclose`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        auth: tuple[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=timeout_s,
            auth=auth,
            verify=verify,
            transport=transport,
            headers={"Accept": _CONTENT_TYPE, "Content-Type": _CONTENT_TYPE},
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}
        # One fetch per unknown id at a time: a burst of records with a new id asks once.
        self._fetch_lock = asyncio.Lock()

    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro JSON text) under ``subject``; returns its global id.

        Registering a schema the subject already has is a no-op in the registry and returns the
        existing id, so this is safe at every start-up.
        """
        return await self._subject_call(subject, schema, f"/subjects/{_quote(subject)}/versions")

    async def lookup(self, subject: str, schema: str) -> int:
        """The id of ``schema`` already registered under ``subject``.

        For registries where producers may not register (``auto.register.schemas=false``);
        raises :class:`SchemaRegistryError` with ``error_code`` 40401/40403 when it is not there.
        """
        return await self._subject_call(subject, schema, f"/subjects/{_quote(subject)}")

    async def get_schema(self, schema_id: int) -> str:
        """The Avro JSON text of the schema with global id ``schema_id``."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        async with self._fetch_lock:
            cached = self._schemas.get(schema_id)
            if cached is not None:
                return cached
            body = await self._call("GET", f"/schemas/ids/{schema_id}", None)
            schema = body.get("schema")
            if not isinstance(schema, str):
                raise SchemaRegistryError(
                    f"schema registry answered GET /schemas/ids/{schema_id} without a schema"
                )
            self._schemas[schema_id] = schema
            return schema

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _subject_call(self, subject: str, schema: str, path: str) -> int:
        cached = self._ids.get((subject, schema))
        if cached is not None:
            return cached
        body = await self._call("POST", path, {"schema": schema, "schemaType": "AVRO"})
        schema_id = body.get("id")
        if not isinstance(schema_id, int):
            raise SchemaRegistryError(f"schema registry answered POST {path} without an id")
        self._ids[(subject, schema)] = schema_id
        self._schemas[schema_id] = schema
        return schema_id

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            # The message names the path only: the base URL may carry credentials.
            raise SchemaRegistryError(
                f"schema registry unreachable for {method} {path}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict):
            return body
        error_code = body.get("error_code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else response.text[:200]
        raise SchemaRegistryError(
            f"schema registry refused {method} {path}: HTTP {response.status_code}"
            f"{f' error {error_code}' if error_code is not None else ''}: {message}",
            status=response.status_code,
            error_code=error_code if isinstance(error_code, int) else None,
        )


def _quote(subject: str) -> str:
    return quote(subject, safe="")
