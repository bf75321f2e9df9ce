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
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.errors import OutcomeCategory
from integrations.settings import IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.testing import BaseCall, BaseInjection, ContractSubject, FakeServer, bracket_form

__all__ = ["CONTRACT", "FakeBitrix24", "FaultKind", "Injection", "RecordedCall"]

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
]
# Other statuses, stalls and cut connections: FakeServer.fail_next / stall_next / drop_next.

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


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One request the fake received."""

    user_id: str
    secret: str
    method: str  # e.g. "crm.lead.add" (".json" removed)
    http_method: str
    params: dict[str, Any]
    content_type: str


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` calls of ``method`` (``None``: any method)."""

    method: str | None
    deliver: bool


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


def _time(start: float) -> dict[str, Any]:
    now = time.time()
    return {"start": start, "finish": now, "duration": now - start, "processing": now - start}


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

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Bitrix24's shape, ``{"error", "error_description"}``, with the code its status has
        (a bare 503 is not ``QUERY_LIMIT_EXCEEDED``: inject "query_limit" for that)."""
        code = {
            401: "NO_AUTH_FOUND",
            403: "ACCESS_DENIED",
            404: "ERROR_METHOD_NOT_FOUND",
            429: "OPERATION_TIME_LIMIT",
            500: "INTERNAL_SERVER_ERROR",
        }.get(status, "")
        response = _error(status, code, message)
        if retry_after_s is not None:
            response.headers["Retry-After"] = f"{retry_after_s:g}"
        return response

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
    ) -> Injection:
        """Make the next ``times`` calls (of ``method``, or any) fail with ``kind``; a
        "server_error" with ``deliver`` applies the call first (the answer alone is lost)."""
        return self.queue(Injection(kind=kind, method=method, remaining=times, deliver=deliver))

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
        params: dict[str, Any] = bracket_form(list(request.query.items()))
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(
                    bracket_form([(k, str(v)) for k, v in (await request.post()).items()])
                )
        call = RecordedCall(
            user_id=request.match_info["user_id"],
            secret=request.match_info["secret"],
            method=method,
            http_method=request.method,
            params=params,
            content_type=request.content_type,
        )
        self.calls.append(call)
        response = self._answer(call, start)
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

    def _answer(self, call: RecordedCall, start: float) -> web.Response:
        if (call.user_id, call.secret) not in self.webhooks:
            return _error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        if self._over_limit():
            return _error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        injection = self.take_injection(lambda i: i.method in (None, call.method))
        if injection is not None:
            if injection.kind == "server_error" and injection.deliver:
                self._execute(call, start)  # applied, but the answer is lost
            return _error(*_FAULTS[injection.kind])
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


_LEAD = {"title": "Lead from the contract suite"}

CONTRACT_SECRET = secrets.token_hex(9)


class _PortalWebhook(Mapping[str, str]):
    """``{"webhook_url": ...}`` on whichever portal the contract suite last pointed at."""

    def __init__(self) -> None:
        self.portal = "http://127.0.0.1:9"

    def __getitem__(self, key: str) -> str:
        if key != "webhook_url":
            raise KeyError(key)
        return f"{self.portal}/rest/1/{CONTRACT_SECRET}/"

    def __iter__(self) -> Iterator[str]:
        return iter(("webhook_url",))

    def __len__(self) -> int:
        return 1


@dataclass(frozen=True)
class _Bitrix24Contract(ContractSubject):
    """The portal is in the tenant's credentials (the webhook URL), not in the endpoint
    settings: the credentials follow the URL the suite points the service at (the fake's, or a
    closed port for the refused-connection case); the settings still give the timeout."""

    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        if isinstance(self.credentials, _PortalWebhook):
            self.credentials.portal = url
        return super().settings(url, timeout_s=timeout_s)


def _contract_fake() -> FakeBitrix24:
    fake = FakeBitrix24()
    fake.add_webhook(user_id=1, secret=CONTRACT_SECRET)
    return fake


CONTRACT = _Bitrix24Contract(
    service="bitrix24",
    fake=_contract_fake,
    credentials=_PortalWebhook(),
    configs={"bitrix24_add_lead": _LEAD},
    # ACCESS_DENIED: REST is not in the portal's plan, or the user may not add leads.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "bitrix24_add_lead": [
            ({"name": "x"}, "title"),
            ({**_LEAD, "title": ""}, "$.title"),
            ({**_LEAD, "phone": "call me"}, "$.phone"),
            ({**_LEAD, "email": ["not-an-email"]}, "$.email"),
            ({**_LEAD, "email": [{"value": "a@b.co", "value_type": "MOBILE"}]}, "$.email"),
            ({**_LEAD, "source_id": "web site"}, "$.source_id"),
            ({**_LEAD, "assigned_by_id": "7"}, "$.assigned_by_id"),
            ({**_LEAD, "custom_fields": {"TITLE": "x"}}, "$.custom_fields"),
            ({**_LEAD, "colour": "red"}, "colour"),
        ],
    },
)
