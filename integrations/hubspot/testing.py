"""A fake HubSpot (CRM v3 contacts and deals, the OAuth token endpoint): real HTTP on loopback.

::

    async with FakeHubSpot(token_lifetime_s=1800) as fake:
        clients = HttpClients({"hubspot": EndpointSettings(base_url=fake.base_url,
                                                           token_url=fake.url + TOKEN_PATH)})
        fake.grant("client-id", "client-secret", refresh_token="r0")   # an authorised app
        fake.grant("client-id", "client-secret", access_token="a0", expires_in=60)
        fake.contacts                      # created contacts by id; fake.refreshes: renewals
        fake.revoke()                      # every later refresh: 400 BAD_REFRESH_TOKEN
        fake.inject("rate_limit")          # the next create gets a 429 RATE_LIMITS

What it reproduces (developers.hubspot.com: CRM contacts v3, OAuth v1 tokens, error handling
and usage guidelines; the shapes quoted in HubSpot's SDK issues): ``POST
/crm/v3/objects/contacts`` with ``{"properties": {...}}`` → 201 ``{"id", "properties",
"createdAt", "updatedAt", "archived"}``; ``POST /crm/v3/objects/deals`` alike (its
``associations`` kept, not checked); errors ``{"status": "error", "message", "correlationId",
"category"}``: 401 ``EXPIRED_AUTHENTICATION`` for an expired token and
``INVALID_AUTHENTICATION`` for an unknown one, 403 ``MISSING_SCOPES`` (with
``errors[].context.requiredScopes``), 400 ``VALIDATION_ERROR`` for an invalid email or an unknown
property, 409 ``CONFLICT`` "Contact already exists. Existing ID: <id>" for a taken email
(case-insensitive), 429 ``RATE_LIMITS`` with the ``X-HubSpot-RateLimit-*`` headers (on every
answer when ``rate_limit=(max, interval_s)`` runs the rolling window). ``POST /oauth/v1/token``
(form): ``{"token_type": "bearer", "refresh_token", "access_token", "expires_in"}``, the refresh
token not rotated; refusals are 400 ``{"status": "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" |
"BAD_GRANT_TYPE", "message"}`` (the last two codes are assumed, not seen in HubSpot's docs).
``tokens`` are static access tokens (a private app's), valid forever.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.hubspot import create_contact, create_deal
from integrations.hubspot.client import TOKEN_PATH
from integrations.testing import (
    BaseInjection,
    BearerCall,
    ContractSubject,
    OAuthFakeServer,
)

__all__ = ["CONTRACT", "TOKEN_PATH", "FakeHubSpot", "FaultKind", "Injection", "RecordedCall"]

FaultKind = Literal[
    "rate_limit",  # 429 RATE_LIMITS, window headers; retry_after adds Retry-After
    "expired_token",  # 401 EXPIRED_AUTHENTICATION
    "missing_scopes",  # 403 MISSING_SCOPES naming crm.objects.contacts.write
    "server_error",  # 500; deliver=True creates the contact first (the answer alone is lost)
]
# Other statuses, stalls and cut connections: FakeServer.fail_next / stall_next / drop_next.

_CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}
_TOKEN_REFUSALS = {
    "invalid_grant": ("BAD_REFRESH_TOKEN", "missing or invalid refresh token"),
    "invalid_client": ("BAD_CLIENT_ID", "missing or invalid client_id"),
    "unsupported_grant_type": ("BAD_GRANT_TYPE", "missing or invalid grant_type"),
}
_NOT_FOUND_AUTH = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


RecordedCall = BearerCall  # one contacts request: its path, bearer token and JSON body


@dataclass(slots=True, kw_only=True)
class Injection(BaseInjection[FaultKind]):
    """A fault for the next ``remaining`` contacts requests (``None``: all of them)."""

    retry_after: float | None
    deliver: bool


def _error(status: int, category: str, message: str, **extra: Any) -> web.Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return web.json_response(body, status=status)


def _invalid(name: str, error: str, message: str) -> web.Response:
    """HubSpot's 400 for a refused property: the details as JSON inside ``message``."""
    item = f'{{"isValid":false,"message":"{message}","error":"{error}","name":"{name}"}}'
    return _error(400, "VALIDATION_ERROR", f"Property values were not valid: [{item}]")


def _objects(call: RecordedCall) -> str:
    """``contacts`` or ``deals``: what the call creates."""
    return call.path.rsplit("/", 1)[-1]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeHubSpot(OAuthFakeServer[Injection]):
    """A fake HubSpot account on ``host:port`` (0: a free port), started by ``async with``.

    ``tokens``: static access tokens. ``token_lifetime_s``: the life of tokens the token
    endpoint issues (HubSpot: 1800). ``rate_limit=(max, interval_s)``: a rolling window over
    contacts requests (HubSpot: 110 per 10 s for OAuth apps); off by default.
    ``custom_properties``: the account's custom contact properties (others are refused).
    ``clock``: "now" for token expiry (tests move it).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (),
        token_lifetime_s: float = 1800.0,
        rate_limit: tuple[int, float] | None = None,
        custom_properties: Iterable[str] = ("favorite_color", "newsletter"),
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            tokens=tokens, token_lifetime_s=token_lifetime_s, rate_limit=rate_limit, clock=clock,
            host=host, port=port,
        )  # fmt: skip
        self.known_properties = {
            "contacts": set(create_contact.STANDARD) | set(custom_properties),
            "deals": set(create_deal.STANDARD) | set(custom_properties),
        }
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(101)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(create_contact.PATH, self.serve)
        app.router.add_post(create_deal.PATH, self.serve)
        app.router.add_post(TOKEN_PATH, self._token)

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """HubSpot's shape with the category its status has; a 429 carries the window headers."""
        response = _error(status, _CATEGORIES.get(status, "ERROR"), message)
        if status == 429:
            response.headers.update(self._limit_headers(remaining=0))
        response.headers.update(self.retry_after(retry_after_s))
        return response

    # -- control ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        retry_after: float | None = None,
        deliver: bool = True,
    ) -> Injection:
        """Make the next ``times`` contacts requests fail with ``kind`` (see :data:`FaultKind`)."""
        return self.queue(
            Injection(kind=kind, remaining=times, retry_after=retry_after, deliver=deliver)
        )

    def clear(self) -> None:
        """Forget calls, contacts, deals and injections (grants and tokens stay)."""
        super().clear()
        self.contacts.clear()
        self.deals.clear()

    # -- the API ---------------------------------------------------------------------------------

    def answer(self, call: RecordedCall) -> web.Response:
        if not self.authorised(call.token):
            if self.grants.issued(call.token):
                return _error(
                    401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."
                )
            return _error(401, "INVALID_AUTHENTICATION", _NOT_FOUND_AUTH)
        remaining = self.window.take() if self.window is not None else None
        if self.window is not None and remaining is None:
            return self.error_response(429, "You have reached your ten_secondly_rolling limit.")
        if (injection := self.take_injection()) is not None:
            fault = self._fault(injection, call)
            if fault is not None:
                return fault
        response = self._store(_objects(call), call.body)
        if remaining is not None:
            response.headers.update(self._limit_headers(remaining=remaining))
        return response

    def _fault(self, injection: Injection, call: RecordedCall) -> web.Response | None:
        if injection.kind == "rate_limit":
            return self.error_response(
                429, "You have reached your ten_secondly_rolling limit.",
                retry_after_s=injection.retry_after,
            )  # fmt: skip
        if injection.kind == "expired_token":
            return _error(
                401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."
            )
        if injection.kind == "missing_scopes":
            return _error(
                403, "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more "
                "about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[{
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredScopes": [f"crm.objects.{_objects(call)}.write"]},
                }],
            )  # fmt: skip
        if injection.deliver:  # "server_error": created, but the answer is lost
            self._store(_objects(call), call.body)
        return _error(500, "ERROR", "internal error")

    def _store(self, objects: str, body: Any) -> web.Response:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON: no properties object")
        for name in properties:
            if name not in self.known_properties[objects]:
                return _invalid(
                    name, "PROPERTY_DOESNT_EXIST", f'Property \\"{name}\\" does not exist'
                )
        if objects == "deals":
            return self._created(self.deals, properties, body.get("associations") or [])
        email = str(properties.get("email", "")).strip().lower()
        if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
            return _invalid("email", "INVALID_EMAIL", f"Email address {email} is invalid")
        existing = next(
            (
                cid
                for cid, c in self.contacts.items()
                if email and c["properties"].get("email") == email
            ),
            None,
        )
        if existing is not None:
            return _error(409, "CONFLICT", f"Contact already exists. Existing ID: {existing}")
        return self._created(self.contacts, {**properties, "email": email} if email else properties)

    def _created(
        self, store: dict[str, dict[str, Any]], properties: dict[str, Any], associations: Any = ()
    ) -> web.Response:
        """Store a new object; HubSpot's 201 answer (every property value as text)."""
        object_id, now = str(next(self._ids)), _now()
        values = {k: str(v) for k, v in properties.items()}
        created = {
            "id": object_id,
            "properties": {
                **values, "createdate": now, "lastmodifieddate": now, "hs_object_id": object_id,
            },
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }  # fmt: skip
        store[object_id] = {**created, "associations": list(associations)}
        return web.json_response(created, status=201)

    def _limit_headers(self, *, remaining: int) -> dict[str, str]:
        window = self.window
        limit, interval_s = (window.limit, window.period_s) if window else (110, 10.0)
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(interval_s * 1000)),
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
        }

    # -- the token endpoint ----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_calls.append(form)
        status, body = self.grants.answer(form)
        error = body.get("error")
        if isinstance(error, str):
            code, message = _TOKEN_REFUSALS.get(error, ("BAD_REQUEST", "bad request"))
            refusal = {
                "status": code,
                "message": message,
                "correlationId": str(uuid.uuid4()),
                "requestId": secrets.token_hex(16),
            }
            return web.json_response(refusal, status=400)
        body["refresh_token"] = form.get("refresh_token")  # HubSpot repeats it: not rotated
        return web.json_response(body, status=status)


CONTRACT_TOKEN = f"pat-na1-{uuid.uuid4()}"
_CONTACT = {"email": "contract@example.com", "firstname": "Contract"}
_DEAL = {"dealname": "Deal from the contract suite", "amount": 100}

CONTRACT = ContractSubject(
    service="hubspot",
    fake=lambda: FakeHubSpot(tokens=(CONTRACT_TOKEN,)),
    credentials={"access_token": CONTRACT_TOKEN},
    configs={"hubspot_create_contact": _CONTACT, "hubspot_create_deal": _DEAL},
    invalid_configs={
        "hubspot_create_contact": [
            ({"firstname": "No email"}, "email"),
            ({"email": "not-an-email"}, "$.email"),
            ({**_CONTACT, "phone": "call me"}, "$.phone"),
            ({**_CONTACT, "lifecyclestage": "friend"}, "$.lifecyclestage"),
            ({**_CONTACT, "hubspot_owner_id": "me"}, "$.hubspot_owner_id"),
            ({**_CONTACT, "website": "javascript:alert(1)"}, "$.website"),
            ({**_CONTACT, "custom_properties": {"Bad-Name": "x"}}, "$.custom_properties"),
            ({**_CONTACT, "custom_properties": {"email": "b@example.com"}}, "$.custom_properties"),
            ({**_CONTACT, "custom_properties": {"notes": "x" * 1001}}, "$.custom_properties"),
            (
                {**_CONTACT, "custom_properties": {f"p{i}": "x" for i in range(21)}},
                "$.custom_properties",
            ),
            ({**_CONTACT, "colour": "red"}, "colour"),
        ],
        "hubspot_create_deal": [
            ({"amount": 5}, "dealname"),
            ({**_DEAL, "amount": -1}, "$.amount"),
            ({**_DEAL, "closedate": "tomorrow"}, "$.closedate"),
            ({**_DEAL, "dealstage": "a stage"}, "$.dealstage"),
            ({**_DEAL, "contact_id": "12a"}, "$.contact_id"),
            ({**_DEAL, "dealtype": "other"}, "$.dealtype"),
            ({**_DEAL, "custom_properties": {"dealname": "x"}}, "$.custom_properties"),
            ({**_DEAL, "colour": "red"}, "colour"),
        ],
    },
)
