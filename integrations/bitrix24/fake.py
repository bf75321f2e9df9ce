"""A fake Bitrix24 portal's REST API behind inbound webhooks: real HTTP on loopback.

::

    async with FakeBitrix24() as fake:
        url = fake.webhook_url()            # http://127.0.0.1:<port>/rest/1/<secret>/
        ...                                 # store {"webhook_url": url} as the bot's credentials
        fake.leads                          # added leads, by id
        fake.inject("query_limit")          # the next call gets 503 QUERY_LIMIT_EXCEEDED

What it reproduces (``external-apis.md`` §6.1, apidocs.bitrix24.ru system errors): methods at
``/rest/<user id>/<secret>/<method>[.json]`` by GET or POST, parameters as JSON or as a
bracket-nested form (``fields[TITLE]=...``); ``{"result": ..., "time": {...}}`` on success and
``{"error": "CODE", "error_description": "..."}`` with the real statuses otherwise; an unknown
webhook is 401 ``NO_AUTH_FOUND``; the rate limit is **503** ``QUERY_LIMIT_EXCEEDED``, and with
``query_limit=(capacity, drain_per_s)`` the fake runs the portal's leaky bucket itself.
Methods: ``crm.lead.add``, ``crm.lead.list`` (equality filter, select), ``crm.lead.get``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.fakes import FakeServer

__all__ = ["FakeBitrix24", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "query_limit",  # 503 QUERY_LIMIT_EXCEEDED
    "operation_time_limit",  # 429 OPERATION_TIME_LIMIT
    "overload",  # 503 OVERLOAD_LIMIT (manual block)
    "expired_token",  # 401 expired_token
    "invalid_credentials",  # 403 INVALID_CREDENTIALS
    "insufficient_scope",  # 403 insufficient_scope
    "access_denied",  # 403 with an empty code: "Access denied."
    "bad_request",  # 400 with an empty code and a description
    "server_error",  # 500 INTERNAL_SERVER_ERROR; deliver=True adds the lead first
    "timeout",  # add the lead (deliver), answer only after delay_s
    "disconnect",  # close the connection without answering
]

_FAULTS: dict[str, tuple[int, str, str]] = {
    "query_limit": (503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    "operation_time_limit": (
        429,
        "OPERATION_TIME_LIMIT",
        "Method is blocked due to operation time limit.",
    ),
    "overload": (503, "OVERLOAD_LIMIT", "REST API is blocked due to overload."),
    "expired_token": (401, "expired_token", "The access token provided has expired."),
    "invalid_credentials": (403, "INVALID_CREDENTIALS", "Invalid request credentials"),
    "insufficient_scope": (
        403,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
    ),
    "access_denied": (403, "", "Access denied."),
    "bad_request": (400, "", "Field 'ASSIGNED_BY_ID' is not valid"),
    "server_error": (500, "INTERNAL_SERVER_ERROR", "Internal server error"),
}


@dataclass(slots=True)
class RecordedCall:
    """One request the fake received."""

    user_id: str
    secret: str
    method: str  # e.g. "crm.lead.add" (".json" removed)
    http_method: str
    params: dict[str, Any]
    content_type: str
    status: int = 0


@dataclass(slots=True)
class Injection:
    """A fault for the next ``remaining`` calls of ``method`` (``None``: any method)."""

    kind: FaultKind
    method: str | None
    remaining: int | None
    deliver: bool
    delay_s: float
    hits: int = 0


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


def _time(start: float) -> dict[str, Any]:
    now = time.time()
    return {"start": start, "finish": now, "duration": now - start, "processing": now - start}


def _parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``fields[PHONE][0][VALUE]=1`` → ``{"fields": {"PHONE": [{"VALUE": "1"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for i, part in enumerate(parts):
            name = str(len(node)) if part == "[]" else part
            if i == len(parts) - 1:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    converted: dict[str, Any] = _lists(root)
    return converted


def _lists(node: object) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class FakeBitrix24(FakeServer[RecordedCall, Injection]):
    """A fake portal on ``host:port`` (0: a free port), started by ``async with``.

    One webhook exists from the start (:meth:`webhook_url`); :meth:`add_webhook` adds others.
    ``query_limit=(capacity, drain_per_s)`` turns on the leaky bucket (X=50, Y=2 on real
    portals); off by default, so tests only see a 503 when they ask for one.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        query_limit: tuple[int, float] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.query_limit = query_limit
        self.leads: dict[int, dict[str, Any]] = {}
        self.webhooks: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)
        self._bucket = 0.0
        self._bucket_at = time.monotonic()
        self.add_webhook(user_id=1)  # a random secret: tests read it from webhook_url()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/rest/{user_id}/{secret}/{method}", self._handle)

    # -- control ---------------------------------------------------------------------------------

    def add_webhook(self, *, user_id: int = 1, secret: str | None = None) -> str:
        """Register a webhook; returns its secret (a random one unless given)."""
        secret = secret or secrets.token_hex(8)
        self.webhooks.add((str(user_id), secret))
        return secret

    def webhook_url(self, *, user_id: int = 1, secret: str | None = None) -> str:
        """The base URL of a webhook (the first registered for ``user_id`` by default)."""
        if secret is None:
            secret = sorted(s for u, s in self.webhooks if u == str(user_id))[0]
        return f"{self.url}/rest/{user_id}/{secret}/"

    def inject(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        times: int | None = 1,
        deliver: bool = True,
        delay_s: float = 30.0,
    ) -> Injection:
        """Make the next ``times`` calls (of ``method``, or any) fail with ``kind``."""
        return self.queue(Injection(kind, method, times, deliver, delay_s))

    def clear(self) -> None:
        """Forget calls, leads and injections (webhooks stay)."""
        super().clear()
        self.leads.clear()
        self._bucket = 0.0

    def calls_of(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    # -- the server ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        start = time.time()
        method = request.match_info["method"].removesuffix(".json").lower()
        params: dict[str, Any] = _parse_form(list(request.query.items()))
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(_parse_form([(k, str(v)) for k, v in (await request.post()).items()]))
        call = RecordedCall(
            request.match_info["user_id"],
            request.match_info["secret"],
            method,
            request.method,
            params,
            request.content_type,
        )
        self.calls.append(call)
        response = await self._answer(request, call, start)
        call.status = response.status
        return response

    def _over_limit(self) -> bool:
        if self.query_limit is None:
            return False
        capacity, drain = self.query_limit
        now = time.monotonic()
        self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * drain)
        self._bucket_at = now
        if self._bucket + 1 > capacity:
            return True
        self._bucket += 1
        return False

    async def _answer(
        self, request: web.Request, call: RecordedCall, start: float
    ) -> web.StreamResponse:
        if (call.user_id, call.secret) not in self.webhooks:
            return _error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        if self._over_limit():
            return _error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        injection = self.take_injection(lambda i: i.method in (None, call.method))
        if injection is not None:
            if injection.kind in _FAULTS and injection.kind != "server_error":
                return _error(*_FAULTS[injection.kind])
            if injection.kind == "disconnect":
                return self.disconnect(request)
            if injection.deliver:
                self._execute(call, start)  # applied, but the answer is lost
            if injection.kind == "timeout":
                await self.wait_unless_closing(injection.delay_s)
            return _error(*_FAULTS["server_error"])
        return self._execute(call, start)

    def _execute(self, call: RecordedCall, start: float) -> web.Response:
        if call.method == "crm.lead.add":
            return self._add(call, start)
        if call.method == "crm.lead.list":
            return self._list(call, start)
        if call.method == "crm.lead.get":
            lead = self.leads.get(int(str(call.params.get("id", "0")) or 0))
            if lead is None:
                return _error(400, "", "Not found")
            return web.json_response({"result": lead, "time": _time(start)})
        return _error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")

    def _add(self, call: RecordedCall, start: float) -> web.Response:
        fields = call.params.get("fields")
        if not isinstance(fields, dict):
            return _error(400, "", "Parameter 'fields' must be array.")
        for name in ("PHONE", "EMAIL"):
            entries = fields.get(name, [])
            if not isinstance(entries, list) or any(
                not isinstance(e, dict) or not e.get("VALUE") for e in entries
            ):
                return _error(400, "", f"Field '{name}' is not valid")
        if any("@" not in str(e["VALUE"]) for e in fields.get("EMAIL", [])):
            return _error(400, "", "Field 'E-mail' is not valid")
        lead_id = next(self._ids)
        self.leads[lead_id] = {"ID": str(lead_id), **fields}
        return web.json_response({"result": lead_id, "time": _time(start)})

    def _list(self, call: RecordedCall, start: float) -> web.Response:
        wanted = call.params.get("filter") or {}
        select = call.params.get("select") or ["*"]
        found = [
            lead
            for lead in self.leads.values()
            if all(str(lead.get(k)) == str(v) for k, v in wanted.items())
        ]
        rows = [
            lead if "*" in select else {k: lead.get(k) for k in select if k in lead}
            for lead in sorted(found, key=lambda lead: int(lead["ID"]))
        ]
        return web.json_response({"result": rows, "total": len(rows), "time": _time(start)})
