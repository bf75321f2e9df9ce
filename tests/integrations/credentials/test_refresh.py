"""OAuth refresh across "workers" (resolvers with their own in-process caches and one Redis),
against a fake token endpoint on a loopback socket that counts, rotates and revokes.

Every resolver here is a worker's: its own ``CredentialsCache`` layer and ``OAuthRefresher``,
sharing the tests' Redis and one source of truth.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from integrations.credentials import (
    CredentialsResolver,
    CredentialsUnavailableError,
    EntryCipher,
    FileCredentialsSource,
    MemoryCredentialsSource,
)
from integrations.credentials.cache import CredentialsCache
from integrations.credentials.errors import ReauthorisationRequiredError
from integrations.credentials.oauth import TokenEndpoint
from integrations.credentials.refresh import OAuthRefresher
from integrations.credentials.sources.base import CredentialsSource
from integrations.credentials.testing import TokenGrants, basic_auth
from integrations.errors import PermanentError
from integrations.testing import FakeServer

PROVIDER = "fakeoauth"
CLIENT = ("client-id-1", "client-secret-never-logged")
TOKEN_PATH = "/oauth/token"  # a path


class FakeTokenServer(FakeServer[Any, Any]):
    """The token endpoint alone, answering from ``grants`` (form or JSON bodies)."""

    def __init__(self, grants: TokenGrants) -> None:
        super().__init__()
        self.grants = grants
        self.delay_s = 0.0

    def routes(self, app: web.Application) -> None:
        app.router.add_post(TOKEN_PATH, self._token)

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            form = await request.json()
        else:
            form = dict(await request.post())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, body = self.grants.answer(form, basic=basic_auth(request))
        return web.json_response(body, status=status)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[FakeTokenServer]:
    async with FakeTokenServer(TokenGrants(lifetime_s=3600, clock=clock)) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def bot() -> str:
    return str(uuid.uuid4())


def stored(refresh_token: str = "r0", **fields: Any) -> dict[str, Any]:  # noqa: S107
    """A bot's oauth credentials as the platform stores them after authorisation."""
    return {
        "access_token": "at-old",
        "refresh_token": refresh_token,
        "expires_at": time.time() + 10,  # inside the 60 s margin: due for renewal
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
        **fields,
    }


Workers = Callable[..., list[CredentialsResolver]]


@pytest.fixture
async def workers(
    redis_client: aioredis.Redis,
    cipher: EntryCipher,
    http: httpx.AsyncClient,
    server: FakeTokenServer,
    clock: Clock,
) -> AsyncIterator[Workers]:
    """``workers(source, n, endpoint=..., **refresher_options)``: n resolvers on one Redis."""
    made: list[CredentialsResolver] = []

    def make(
        source: CredentialsSource,
        n: int = 3,
        *,
        endpoint: TokenEndpoint | None = None,
        **options: Any,
    ) -> list[CredentialsResolver]:
        endpoint = endpoint or TokenEndpoint(url=server.url + TOKEN_PATH)
        for _ in range(n):
            cache = CredentialsCache(redis_client, cipher, local_ttl_s=5.0, clock=clock)
            refresher = OAuthRefresher(
                source, redis_client, cipher, http, stats=cache.stats, clock=clock,
                endpoints=lambda provider: endpoint if provider == PROVIDER else None, **options,
            )  # fmt: skip
            made.append(CredentialsResolver(source, cache, refresher=refresher, clock=clock))
        return made[-n:]

    yield make
    for resolver in made:
        await resolver.aclose()


async def get(resolver: CredentialsResolver, bot_id: str) -> dict[str, Any] | None:
    return await resolver.get_default_for(bot_id=bot_id, provider=PROVIDER, strategy="oauth")


async def test_many_requests_on_three_workers_refresh_once_and_write_the_pair_back(
    workers: Workers, server: FakeTokenServer, tmp_path: Path
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({bot_id: {PROVIDER: {"oauth": stored()}}}))
    source = FileCredentialsSource(path)
    fleet = workers(source, 3)

    answers = await asyncio.gather(*(get(fleet[n % 3], bot_id) for n in range(60)))

    assert server.grants.refreshes == 1
    tokens = {a["access_token"] for a in answers if a}
    assert len(tokens) == 1 and "at-old" not in tokens
    assert all(server.grants.valid(t) for t in tokens)
    on_disk = json.loads(path.read_text())[bot_id][PROVIDER]["oauth"]
    assert on_disk["access_token"] in tokens and on_disk["version"] == 1
    assert on_disk["expires_at"] > time.time() + 3000  # from expires_in
    assert on_disk["refresh_token"] == "r0"  # not rotated: kept
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left


async def test_single_use_refresh_tokens_never_brick_the_credential(
    workers: Workers, server: FakeTokenServer, clock: Clock
) -> None:
    bot_id = bot()
    server.grants.rotate = True
    server.grants.grant(*CLIENT, refresh_token="r0")
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    fleet = workers(source, 3)

    for _ in range(4):  # four expiries, each met by 30 requests on three workers
        answers = await asyncio.gather(*(get(fleet[n % 3], bot_id) for n in range(30)))
        assert all(a and server.grants.valid(a["access_token"]) for a in answers)
        clock.now += 3600  # the token expires
        for resolver in fleet:
            await resolver.invalidate(bot_id, PROVIDER)  # as its local TTL would, sooner

    assert (server.grants.refreshes, server.grants.reused, server.grants.refused) == (4, 0, 0)
    latest = await source.fetch(bot_id, PROVIDER, "oauth")
    assert latest is not None
    assert latest["refresh_token"] == server.grants.grants[0].refresh_token  # the newest
    assert latest["version"] == 4


async def test_a_token_the_provider_refused_is_renewed_once_even_before_its_expiry(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    fresh = stored(expires_at=time.time() + 3000)  # looks valid, but was revoked at Dropbox
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": fresh}}})
    [worker] = workers(source, 1)

    assert (await get(worker, bot_id) or {})["access_token"] == "at-old"
    assert server.grants.refreshes == 0
    await worker.invalidate(bot_id, PROVIDER, rejected=True)  # the processor, after a 401
    renewed = await asyncio.gather(*(get(worker, bot_id) for _ in range(10)))

    assert server.grants.refreshes == 1
    assert {r["access_token"] for r in renewed if r} == {
        r["access_token"] for r in renewed[:1] if r
    }
    assert renewed[0] is not None and renewed[0]["access_token"] != "at-old"


async def test_a_dead_grant_fails_every_request_after_one_call(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    server.grants.revoke()
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    fleet = workers(source, 2)

    outcomes = await asyncio.gather(
        *(get(fleet[n % 2], bot_id) for n in range(20)), return_exceptions=True
    )
    for _ in range(5):  # later requests, and the processor's one retry after invalidating
        await fleet[0].invalidate(bot_id, PROVIDER, rejected=True)
        with pytest.raises(ReauthorisationRequiredError):
            await get(fleet[0], bot_id)

    assert all(isinstance(o, ReauthorisationRequiredError) for o in outcomes), outcomes
    message = str(outcomes[0])
    assert "owner must authorise the app again" in message and "invalid_grant" in message
    assert CLIENT[1] not in message and "r0" not in message.split()
    assert server.grants.refused == 1  # one call to the token endpoint, no storm
    assert fleet[0].stats.reauth_required >= 1

    # The owner authorises again: a new grant, stored by the platform, works at once.
    server.grants.grant(*CLIENT, refresh_token="r-new")
    source.set(bot_id, PROVIDER, "oauth", stored(refresh_token="r-new"))
    for resolver in fleet:
        await resolver.invalidate(bot_id, PROVIDER)
    renewed = await get(fleet[1], bot_id)
    assert renewed is not None and server.grants.valid(renewed["access_token"])


class DiesBeforeWriteBack(MemoryCredentialsSource):
    """A worker killed after the token endpoint answered, before the source took the pair."""

    async def store(self, *args: Any, **kwargs: Any) -> bool:
        raise asyncio.CancelledError  # what kill -9 looks like from here: nothing after it runs


async def test_a_refresher_killed_before_write_back_loses_no_rotated_pair(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.rotate = True
    server.grants.grant(*CLIENT, refresh_token="r0")
    data = {bot_id: {PROVIDER: {"oauth": stored()}}}
    dying = DiesBeforeWriteBack(data)
    [doomed] = workers(dying, 1, lock_ttl_s=0.5)
    with pytest.raises(asyncio.CancelledError):
        await get(doomed, bot_id)
    assert server.grants.refreshes == 1  # the provider answered, and r0 is now spent

    survivor_source = MemoryCredentialsSource(data)  # the same truth, still at version None
    [survivor] = workers(survivor_source, 1, lock_ttl_s=0.5)
    answer = await get(survivor, bot_id)

    assert answer is not None and server.grants.valid(answer["access_token"])
    assert (server.grants.refreshes, server.grants.reused) == (1, 0)  # finished, not redone
    written = await survivor_source.fetch(bot_id, PROVIDER, "oauth")
    assert written is not None and written["refresh_token"] == server.grants.grants[0].refresh_token
    assert survivor_source.stores == 1


async def test_a_loser_waits_for_the_winner_and_never_calls(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.rotate = True
    server.grants.grant(*CLIENT, refresh_token="r0")
    server.delay_s = 0.5  # the winner's call is slow: the others must wait, not call
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    fleet = workers(source, 4)

    answers = await asyncio.gather(*(get(worker, bot_id) for worker in fleet))

    assert server.grants.refreshes == 1 and server.grants.reused == 0
    assert len({a["access_token"] for a in answers if a}) == 1
    assert sum(w.stats.refresh_waits for w in fleet) >= 1


async def test_a_lock_whose_holder_died_expires_and_another_refreshes(
    workers: Workers, server: FakeTokenServer, redis_client: aioredis.Redis
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    lock = f"actionstream:oauth:{{{bot_id}}}:{PROVIDER}:oauth:lock"
    await redis_client.set(lock, "a-dead-worker", px=500)
    [worker] = workers(source, 1, lock_ttl_s=0.5, wait_s=5.0)

    started = time.monotonic()
    answer = await get(worker, bot_id)

    assert answer is not None and server.grants.refreshes == 1
    assert 0.3 < time.monotonic() - started < 4.0


async def test_a_refresh_that_cannot_finish_is_unavailable_not_hung(
    workers: Workers, server: FakeTokenServer, redis_client: aioredis.Redis
) -> None:
    bot_id = bot()
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    lock = f"actionstream:oauth:{{{bot_id}}}:{PROVIDER}:oauth:lock"
    await redis_client.set(lock, "a-slow-worker", px=10_000)
    [worker] = workers(source, 1, wait_s=0.3)
    with pytest.raises(CredentialsUnavailableError, match="did not finish"):
        await get(worker, bot_id)


async def test_client_credentials_are_minted_once_and_shared_never_written_back(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT)
    endpoint = TokenEndpoint(
        url=server.url + TOKEN_PATH, grant="client_credentials", client_auth="basic",
        reauthorise=("invalid_client",),
    )  # fmt: skip
    app = {"client_id": CLIENT[0], "client_secret": CLIENT[1]}
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": app}}})
    fleet = workers(source, 3, endpoint=endpoint)

    answers = await asyncio.gather(*(get(fleet[n % 3], bot_id) for n in range(30)))

    assert server.grants.mints == 1
    assert len({a["access_token"] for a in answers if a}) == 1
    assert source.stores == 0  # the secrets stay as they were; the token is Redis's to share


async def test_a_static_token_without_a_refresh_token_is_used_as_it_is(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    static = {"access_token": "sl.long-lived", "expires_at": time.time() + 5}
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": static}}})
    [worker] = workers(source, 1)
    answer = await get(worker, bot_id)
    assert answer is not None and answer["access_token"] == "sl.long-lived"
    assert server.grants.refreshes == server.grants.refused == 0


async def test_the_token_endpoint_down_is_transient(
    workers: Workers, server: FakeTokenServer
) -> None:
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    server.fail_next(503, times=None)
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    [worker] = workers(source, 1)
    with pytest.raises(CredentialsUnavailableError, match="answered 503") as caught:
        await get(worker, bot_id)
    assert CLIENT[1] not in str(caught.value)
    assert worker.stats.refresh_failures == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"},
         "BAD_REFRESH_TOKEN"),  # HubSpot
        (401, {"hint": "Token has been revoked", "title": "Некорректный запрос", "status": 401},
         "Token has been revoked"),  # AmoCRM
    ],
    ids=["hubspot", "amocrm"],
)  # fmt: skip
async def test_providers_that_say_dead_grant_their_own_way_are_terminal_too(
    workers: Workers, server: FakeTokenServer, status: int, body: dict[str, Any], code: str
) -> None:
    bot_id = bot()
    endpoint = TokenEndpoint(url=server.url + TOKEN_PATH, reauthorise=("invalid_grant", code))
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    [worker] = workers(source, 1, endpoint=endpoint)
    server.fail_next(status, body=body)
    with pytest.raises(ReauthorisationRequiredError, match=re.escape(code)):
        await get(worker, bot_id)
    await worker.invalidate(bot_id, PROVIDER, rejected=True)
    with pytest.raises(ReauthorisationRequiredError):  # marked: no second call
        await get(worker, bot_id)
    assert server.grants.refused == 0  # the one call was the injected answer; none reached it


async def test_a_token_answer_past_its_bound_is_refused_unread(
    workers: Workers, server: FakeTokenServer
) -> None:
    # A token endpoint on a tenant's host (AmoCRM's) must not fill the worker's memory.
    bot_id = bot()
    server.grants.grant(*CLIENT, refresh_token="r0")
    server.fail_next(200, body={"access_token": "x" * (1 << 20), "expires_in": 3600})
    source = MemoryCredentialsSource({bot_id: {PROVIDER: {"oauth": stored()}}})
    [worker] = workers(source, 1)
    with pytest.raises(PermanentError, match="over 65536 bytes"):
        await get(worker, bot_id)
    assert worker.stats.refresh_failures == 1
    assert source.stores == 0
