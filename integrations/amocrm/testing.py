"""A fake amoCRM account (API v4 leads and its OAuth token endpoint): real HTTP on loopback.

::

    async with FakeAmoCRM(token_lifetime_s=86400) as fake:
        credentials = {"base_url": fake.url, "access_token": ..., ...}   # the account is the URL
        fake.grant("client-id", "client-secret", refresh_token="r0",
                   redirect_uri=REDIRECT_URI)             # an authorised integration
        fake.grant("client-id", "client-secret", access_token="a0", expires_in=60)
        fake.leads                         # added leads by id; fake.refreshes, fake.reused
        fake.revoke()                      # every later refresh: "Token has been revoked"
        fake.inject("payment_required")    # the next call gets a 402

What it reproduces (amoCRM "API errors and responses", Kommo "get token", amocrm-api-php issues
for the token refusals): ``POST /api/v4/leads`` with a JSON array → 200 ``{"_links",
"_embedded": {"leads": [{"id", "request_id", "_links"}]}}``; errors in RFC 7807 ``{"title",
"type", "status", "detail"}``: 401 for an expired or unknown token, 400 ``validation-errors``
(``path``/``code``/``detail`` per lead, ``request_id`` its index) for an unknown pipeline, stage
or custom field and for values of the wrong type, 402 (account not paid), 403 (account or IP
blocked), 429 (``rate_limit=(max, per_s)`` runs a per-second window; off by default). ``POST
/oauth2/access_token`` (JSON, or a form) with ``redirect_uri``: ``{"token_type": "Bearer",
"expires_in", "access_token", "refresh_token", "server_time"}``, **each refresh token single-use**
(rotated); a spent, revoked or unknown one → 401 ``{"hint": "Token has been revoked", "title":
"Некорректный запрос", "type": ".../OAuthProblemJson", "status": 401, "detail"}``; a wrong client
→ 401 "Некорректный клиент"; a wrong ``redirect_uri`` or grant type → 400 with a ``hint`` naming
the parameter (that hint's wording is assumed from the observed ``client_id`` one).
``tokens`` are long-lived access tokens (a private integration's), valid forever.
"""

from __future__ import annotations

import collections
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from integrations.amocrm.client import TOKEN_PATH
from integrations.amocrm.create_lead import PATH
from integrations.credentials.testing import Grant
from integrations.errors import OutcomeCategory
from integrations.settings import IntegrationSettings
from integrations.telegram.settings import TelegramSettings
from integrations.testing import (
    BaseInjection,
    BearerCall,
    ContractSubject,
    OAuthFakeServer,
)

__all__ = [
    "CONTRACT",
    "REDIRECT_URI",
    "TOKEN_PATH",
    "FakeAmoCRM",
    "FaultKind",
    "Injection",
    "RecordedCall",
]

FaultKind = Literal[
    "rate_limit",  # 429 Too Many Requests (no Retry-After, as amoCRM)
    "payment_required",  # 402: the account is not paid for
    "account_blocked",  # 403: the account or the caller's IP is blocked
    "server_error",  # 500; deliver=True adds the lead first (the answer alone is lost)
]
# Other statuses, stalls and cut connections: FakeServer.fail_next / stall_next / drop_next.

REDIRECT_URI = "https://bots.example/oauth/amocrm/callback"
_OAUTH_PROBLEM = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"
_BAD_REQUEST = "В запросе отсутствует ряд параметров или параметры невалидны"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_FAULTS: dict[str, tuple[int, str]] = {
    "rate_limit": (429, "Too Many Requests"),
    "payment_required": (402, "Payment Required"),
    "account_blocked": (403, "Account is blocked"),
    "server_error": (500, "Internal Server Error"),
}


RecordedCall = BearerCall  # one leads request: its path, bearer token and JSON body


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` leads requests (``None``: all of them)."""

    deliver: bool


def _problem(status: int, detail: str, **extra: Any) -> web.Response:
    title = _TITLES.get(status, "Error")
    body = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status}
    return web.json_response({**extra, **body, "detail": detail}, status=status)


def _oauth_problem(status: int, title: str, detail: str, hint: str | None) -> web.Response:
    body: dict[str, Any] = {"hint": hint} if hint else {}
    body.update(title=title, type=_OAUTH_PROBLEM, status=status, detail=detail)
    return web.json_response(body, status=status)


def _invalid(problems: list[tuple[int, str, str, str]]) -> web.Response:
    """400 ``validation-errors``: (lead index, path, code, detail) per problem."""
    groups: dict[int, list[dict[str, str]]] = collections.defaultdict(list)
    for index, path, code, detail in problems:
        groups[index].append({"code": code, "path": path, "detail": detail})
    errors = [{"request_id": str(i), "errors": found} for i, found in sorted(groups.items())]
    return _problem(400, "Request validation failed", **{"validation-errors": errors})


class FakeAmoCRM(OAuthFakeServer[Injection]):
    """A fake account on ``host:port`` (0: a free port), started by ``async with``.

    ``tokens``: long-lived access tokens. ``token_lifetime_s``: the life of tokens the token
    endpoint issues (amoCRM: 86400). ``pipelines``: pipeline id → its stage ids (the first is
    the main pipeline); ``fields``: the account's custom lead field ids. ``rate_limit=(max,
    per_s)``: a window over leads requests (amoCRM: 7 per second); off by default. ``clock``:
    "now" for token expiry (tests move it).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (),
        token_lifetime_s: float = 86400.0,
        pipelines: Mapping[int, Iterable[int]] | None = None,
        fields: Iterable[int] = (501, 502),
        rate_limit: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            tokens=tokens, token_lifetime_s=token_lifetime_s, rotate=True,
            rate_limit=rate_limit, clock=clock, host=host, port=port,
        )  # fmt: skip
        self.redirect_uris: dict[str, str] = {}  # client id -> its registered redirect_uri
        raw = pipelines if pipelines is not None else {7001: (142, 143, 70011)}
        self.pipelines = {p: list(s) for p, s in raw.items()}
        self.fields = set(fields)
        self.leads: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(30001)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.serve)
        app.router.add_post(TOKEN_PATH, self._token)

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """amoCRM's RFC 7807 shape, ``{"title", "type", "status", "detail"}``."""
        response = _problem(status, message)
        response.headers.update(self.retry_after(retry_after_s))
        return response

    # -- control ---------------------------------------------------------------------------------

    def grant(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str = REDIRECT_URI,
        **options: Any,
    ) -> Grant:
        """Authorise an integration (the account's admin installed it), optionally with a live
        access token (see :meth:`OAuthFakeServer.grant`); its refreshes must carry
        ``redirect_uri``."""
        self.redirect_uris[client_id] = redirect_uri
        return super().grant(client_id, client_secret, **options)

    def current_refresh_token(self, client_id: str) -> str | None:
        """The one refresh token of ``client_id``'s grant that still works."""
        found = [g for g in self.grants.grants if g.client_id == client_id and g.refresh_token]
        return found[-1].refresh_token if found else None

    def inject(self, kind: FaultKind, *, times: int | None = 1, deliver: bool = True) -> Injection:
        """Make the next ``times`` leads requests fail with ``kind`` (see :data:`FaultKind`)."""
        return self.queue(Injection(kind=kind, remaining=times, deliver=deliver))

    def clear(self) -> None:
        """Forget calls, leads and injections (grants and tokens stay)."""
        super().clear()
        self.leads.clear()

    # -- the API ---------------------------------------------------------------------------------

    def answer(self, call: RecordedCall) -> web.Response:
        if not self.authorised(call.token):
            return _problem(401, "Unauthorized")
        if self.window is not None and self.window.take() is None:
            return _problem(429, "Too Many Requests")
        if (injection := self.take_injection()) is not None:
            if injection.kind == "server_error" and injection.deliver:
                self._store(call.body)  # added, but the answer is lost
            status, detail = _FAULTS[injection.kind]
            return _problem(status, detail)
        return self._store(call.body)

    def _store(self, body: Any) -> web.Response:
        if not isinstance(body, list) or not body or len(body) > 250:
            return _invalid([(0, "", "InvalidType", "This value should be of type array.")])
        problems = [p for i, entry in enumerate(body) for p in self._check(i, entry)]
        if problems:
            return _invalid(problems)
        added = []
        for index, entry in enumerate(body):
            lead_id = next(self._ids)
            pipeline = entry.get("pipeline_id", next(iter(self.pipelines)))
            stage = entry.get("status_id", self.pipelines[pipeline][0])
            self.leads[lead_id] = {
                **entry,
                "id": lead_id,
                "pipeline_id": pipeline,
                "status_id": stage,
            }
            added.append({
                "id": lead_id, "request_id": str(index),
                "_links": {"self": {"href": f"{self.url}{PATH}/{lead_id}"}},
            })  # fmt: skip
        links = {"self": {"href": self.url + PATH}}
        return web.json_response({"_links": links, "_embedded": {"leads": added}})

    def _check(self, index: int, entry: Any) -> Iterator[tuple[int, str, str, str]]:
        if not isinstance(entry, dict):
            yield index, "", "InvalidType", "This value should be of type object."
            return
        for key in ("price", "pipeline_id", "status_id", "responsible_user_id"):
            value = entry.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool):
                yield index, key, "InvalidType", "This value should be of type int."
        pipeline = entry.get("pipeline_id")
        if pipeline is not None and pipeline not in self.pipelines:
            yield (
                index,
                "pipeline_id",
                "NotSupportedChoice",
                "The value you selected is not a valid choice.",
            )
        stages = self.pipelines.get(pipeline or next(iter(self.pipelines)), [])
        if "status_id" in entry and entry["status_id"] not in stages:
            yield (
                index,
                "status_id",
                "NotSupportedChoice",
                "The value you selected is not a valid choice.",
            )
        for n, field in enumerate(entry.get("custom_fields_values") or []):
            if not isinstance(field, dict) or field.get("field_id") not in self.fields:
                path = f"custom_fields_values.{n}.field_id"
                yield (
                    index,
                    path,
                    "NotSupportedChoice",
                    "The value you selected is not a valid choice.",
                )

    # -- the token endpoint ----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/json":
            try:
                raw = await request.json()
            except ValueError:
                raw = None
            form = raw if isinstance(raw, dict) else {}
        else:
            form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_calls.append(dict(form))
        client_id = form.get("client_id")
        expected = self.redirect_uris.get(client_id) if isinstance(client_id, str) else None
        if expected is not None and form.get("redirect_uri") != expected:
            return _oauth_problem(
                400, "Некорректный запрос", _BAD_REQUEST, "Check the `redirect_uri` parameter"
            )
        status, body = self.grants.answer(form)
        error = body.get("error")
        if error == "invalid_client":
            return _oauth_problem(401, "Некорректный клиент", "Авторизация клиента не прошла", None)
        if error == "invalid_grant":
            return _oauth_problem(
                401, "Некорректный запрос", _BAD_REQUEST, "Token has been revoked"
            )
        if error is not None:
            return _oauth_problem(
                400, "Некорректный запрос", _BAD_REQUEST, "Check the `grant_type` parameter"
            )
        body.update(token_type="Bearer", server_time=int(time.time()))  # noqa: S106
        return web.json_response(body, status=status)


CONTRACT_TOKEN = f"long-lived-{secrets.token_hex(24)}"
_LEAD = {"name": "Lead from the contract suite"}


class _AccountCredentials(Mapping[str, str]):
    """``{"access_token", "base_url"}`` on whichever account the contract suite last pointed at."""

    def __init__(self) -> None:
        self.account = "http://127.0.0.1:9"

    def __getitem__(self, key: str) -> str:
        return {"access_token": CONTRACT_TOKEN, "base_url": self.account}[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("access_token", "base_url"))

    def __len__(self) -> int:
        return 2


@dataclass(frozen=True)
class _AmoCRMContract(ContractSubject):
    """The account is in the tenant's credentials (``base_url``), not in the endpoint settings:
    the credentials follow the URL the suite points the service at (the fake's, or a closed
    port for the refused-connection case); the settings still give the timeout."""

    def settings(
        self, url: str, *, timeout_s: float
    ) -> tuple[IntegrationSettings, TelegramSettings]:
        if isinstance(self.credentials, _AccountCredentials):
            self.credentials.account = url
        return super().settings(url, timeout_s=timeout_s)


CONTRACT = _AmoCRMContract(
    service="amocrm",
    fake=lambda: FakeAmoCRM(tokens=(CONTRACT_TOKEN,)),
    credentials=_AccountCredentials(),
    configs={"amocrm_create_lead": _LEAD},
    # 403: the account or our IP is blocked, or the user may not add leads.
    forbidden=OutcomeCategory.PERMANENT,
    invalid_configs={
        "amocrm_create_lead": [
            ({"price": 10}, "name"),
            ({"name": ""}, "$.name"),
            ({**_LEAD, "price": -1}, "$.price"),
            ({**_LEAD, "price": "100"}, "$.price"),
            ({**_LEAD, "pipeline_id": 0}, "$.pipeline_id"),
            ({**_LEAD, "tags": ["x" * 51]}, "$.tags"),
            ({**_LEAD, "custom_fields_values": [{"field_id": 1}]}, "$.custom_fields_values"),
            (
                {**_LEAD, "custom_fields_values": [{"field_id": 1, "values": [{}]}]},
                "$.custom_fields_values",
            ),
            (
                {**_LEAD, "custom_fields_values": [{"field_id": 1, "values": []}]},
                "$.custom_fields_values",
            ),
            (
                {
                    **_LEAD,
                    "custom_fields_values": [
                        {"field_id": n, "values": [{"value": 1}]} for n in range(1, 42)
                    ],
                },
                "$.custom_fields_values",
            ),
            ({**_LEAD, "colour": "red"}, "colour"),
        ],
    },
)
