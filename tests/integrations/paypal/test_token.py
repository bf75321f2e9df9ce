"""PayPal's client-credentials token endpoint: the fake's, directly, and the worker's refresher
minting from it for ``paypal_create_order`` (real Redis, real sockets)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from integrations import errors
from integrations.credentials import CredentialsResolver, EntryCipher, MemoryCredentialsSource
from integrations.credentials.cache import CredentialsCache
from integrations.credentials.errors import ReauthorisationRequiredError
from integrations.credentials.refresh import OAuthRefresher
from integrations.paypal.create_order import PayPalCreateOrderIntegration
from integrations.paypal.testing import CLIENT_ID, CLIENT_SECRET, FakePayPal
from support.integrations import Run

ORDER = {"amount": "5.00", "currency": "USD"}


@dataclass
class Clock:
    """ "Now" for the fake's token expiry and the refresher alike; tests move ``now``."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakePayPal]:
    async with FakePayPal(token_lifetime_s=600, clock=clock) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def mint(http: httpx.AsyncClient, fake: FakePayPal, auth: Any, **form: str) -> httpx.Response:
    return await http.post(fake.token_url, auth=auth, data=form)


async def test_a_mint_answers_paypals_token_and_it_opens_the_orders_api(
    http: httpx.AsyncClient, fake: FakePayPal
) -> None:
    response = await mint(http, fake, (CLIENT_ID, CLIENT_SECRET), grant_type="client_credentials")
    assert response.status_code == 200
    body = response.json()
    assert {"scope", "access_token", "token_type", "app_id", "expires_in", "nonce"} <= set(body)
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 600)
    assert fake.mints == fake.refreshes == 1
    assert fake.minted == [body["access_token"]]
    order = await http.post(
        fake.base_url + "/v2/checkout/orders",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        json={"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD",
                                                                  "value": "1.00"}}]},
    )  # fmt: skip
    assert order.status_code == 201
    assert order.json()["status"] == "CREATED"


@pytest.mark.parametrize(
    ("auth", "form", "status", "error", "description"),
    [
        ((CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client",
         "Client Authentication failed"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client",
         "Client Authentication failed"),
        ((CLIENT_ID, CLIENT_SECRET), {}, 400, "unsupported_grant_type", "Grant Type is NULL"),
    ],
    ids=["wrong-secret", "no-basic-auth", "no-grant-type"],
)  # fmt: skip
async def test_refusals_are_paypals_oauth_errors_and_mint_nothing(
    http: httpx.AsyncClient,
    fake: FakePayPal,
    auth: Any,
    form: dict[str, str],
    status: int,
    error: str,
    description: str,
) -> None:
    response = await mint(http, fake, auth, **form)
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}
    assert fake.mints == 0


async def test_a_token_dies_at_its_expiry_and_a_revoked_app_mints_no_more(
    http: httpx.AsyncClient, fake: FakePayPal, clock: Clock
) -> None:
    token = await mint(http, fake, (CLIENT_ID, CLIENT_SECRET), grant_type="client_credentials")
    access = token.json()["access_token"]
    clock.now += 601
    order = await http.post(
        fake.base_url + "/v2/checkout/orders", headers={"Authorization": f"Bearer {access}"},
        json={},
    )  # fmt: skip
    assert order.status_code == 401
    assert order.json()["name"] == "AUTHENTICATION_FAILURE"
    fake.revoke()
    again = await mint(http, fake, (CLIENT_ID, CLIENT_SECRET), grant_type="client_credentials")
    assert (again.status_code, again.json()["error"]) == (401, "invalid_client")
    assert fake.mints == 1


# -- the worker's refresher ----------------------------------------------------------------------


@pytest.fixture
async def resolver(
    redis_client: aioredis.Redis,
    http: httpx.AsyncClient,
    fake: FakePayPal,
    clock: Clock,
    bot_id: str,
) -> AsyncIterator[tuple[CredentialsResolver, str]]:
    """A worker's resolver for the bot (``run``'s), storing only its REST app's credentials;
    PayPal's declared token endpoint moved to the fake (as ``EndpointSettings.token_url`` does)."""
    source = MemoryCredentialsSource(
        {bot_id: {"paypal": {"oauth": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}}}
    )
    cipher = EntryCipher(os.urandom(32))
    cache = CredentialsCache(redis_client, cipher, local_ttl_s=5.0, clock=clock)
    refresher = OAuthRefresher(
        source, redis_client, cipher, http, stats=cache.stats, clock=clock,
        token_urls={"paypal": fake.token_url},
    )  # fmt: skip
    worker = CredentialsResolver(source, cache, refresher=refresher, clock=clock)
    try:
        yield worker, bot_id
    finally:
        await worker.aclose()
        await redis_client.flushdb()


async def test_the_refresher_mints_once_for_many_orders_and_again_after_expiry(
    fake: FakePayPal,
    resolver: tuple[CredentialsResolver, str],
    run: Run,
    clock: Clock,
) -> None:
    worker, bot_id = resolver
    keys = [f"req-{n}" for n in range(20)]
    answers = await asyncio.gather(*(run(ORDER, key=k, credentials=worker) for k in keys))
    assert all(a["response"]["ok"] for a in answers)
    assert fake.mints == 1  # one token, shared by every request
    assert len(fake.orders) == 20
    clock.now += 600  # the token expires
    await worker.invalidate(bot_id, "paypal")  # as the local TTL would, sooner
    assert (await run(ORDER, key="req-late", credentials=worker))["response"]["ok"]
    assert fake.mints == 2


async def test_bad_app_credentials_end_in_reauthorisation_without_a_mint_storm(
    fake: FakePayPal, resolver: tuple[CredentialsResolver, str], run: Run
) -> None:
    worker, bot_id = resolver
    fake.revoke()  # the app's secret was rotated at PayPal: invalid_client

    async def request(key: str) -> errors.AuthError:
        """One request as the processor runs it: an auth failure re-fetches once."""
        for attempt in (1, 2):
            try:
                await run(ORDER, key=key, credentials=worker)
            except ReauthorisationRequiredError as error:
                return error
            except errors.AuthError:
                if attempt == 2:
                    raise
                await worker.invalidate(bot_id, "paypal", rejected=True)
        raise AssertionError("the order went through with revoked app credentials")

    for key in ("req-1", "req-2", "req-3"):
        error = await request(key)
        assert "must authorise the app again" in error.message
        assert CLIENT_SECRET not in error.message
    token_calls = [c for c in fake.calls if c.path == "/v1/oauth2/token"]
    assert len(token_calls) == 1  # the dead grant is remembered: later requests ask nothing
    assert fake.creates() == []


@pytest.fixture
def action(clients: Any) -> PayPalCreateOrderIntegration:
    return PayPalCreateOrderIntegration(clients)
