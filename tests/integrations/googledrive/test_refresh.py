"""googledrive_upload_file with the real OAuth refresher against the fake's Google token endpoint.

The refresher finds Google's endpoint through the registration in ``integrations.googledrive``
and is pointed at the fake by ``token_urls`` (``EndpointSettings.token_url`` in a worker); the
resolver is the real one, on the tests' Redis.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from integrations.credentials import CredentialsResolver, EntryCipher, MemoryCredentialsSource
from integrations.credentials.cache import CredentialsCache
from integrations.credentials.errors import ReauthorisationRequiredError
from integrations.credentials.refresh import OAuthRefresher
from integrations.googledrive.testing import TOKEN_PATH, FakeGoogleDrive
from support.integrations import Run

CLIENT = ("1234-app.apps.googleusercontent.com", "GOCSPX-never-logged")


@pytest.fixture
async def make_resolver_for(
    redis_client: aioredis.Redis, fake: FakeGoogleDrive
) -> AsyncIterator[Any]:
    made: list[CredentialsResolver] = []
    cipher = EntryCipher(os.urandom(32))
    async with httpx.AsyncClient() as http:

        def make(source: MemoryCredentialsSource) -> CredentialsResolver:
            cache = CredentialsCache(redis_client, cipher, local_ttl_s=5.0)
            refresher = OAuthRefresher(
                source, redis_client, cipher, http, stats=cache.stats,
                token_urls={"googledrive": fake.url + TOKEN_PATH},
            )  # fmt: skip
            made.append(CredentialsResolver(source, cache, refresher=refresher))
            return made[-1]

        yield make
        for resolver in made:
            await resolver.aclose()


def stored(bot_id: str, refresh_token: str) -> MemoryCredentialsSource:
    oauth = {
        "access_token": "ya29.stale",
        "refresh_token": refresh_token,
        "expires_at": time.time() + 5,  # inside the refresher's margin: due
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
    }
    return MemoryCredentialsSource({bot_id: {"googledrive": {"oauth": oauth}}})


async def test_a_due_token_is_renewed_at_google_once_and_the_upload_uses_it(
    run: Run, fake: FakeGoogleDrive, make_resolver_for: Any, bot_id: str
) -> None:
    fake.grant(*CLIENT, refresh_token="1//google-refresh")
    source = stored(bot_id, "1//google-refresh")
    resolver = make_resolver_for(source)
    first = await run({"name": "a.txt", "content_text": "a"}, key="r1", credentials=resolver)
    second = await run({"name": "b.txt", "content_text": "b"}, key="r2", credentials=resolver)
    assert first["response"]["ok"] and second["response"]["ok"]
    assert fake.refreshes == 1
    kept = await source.fetch(bot_id, "googledrive", "oauth")
    assert kept is not None
    assert kept["refresh_token"] == "1//google-refresh"  # Google does not rotate: kept
    assert fake.valid(kept["access_token"])


async def test_a_revoked_grant_asks_for_reauthorisation_without_calling_drive(
    run: Run, fake: FakeGoogleDrive, make_resolver_for: Any, bot_id: str
) -> None:
    fake.grant(*CLIENT, refresh_token="1//revoked")
    fake.revoke()
    resolver = make_resolver_for(stored(bot_id, "1//revoked"))
    with pytest.raises(ReauthorisationRequiredError) as caught:
        await run({"name": "a.txt", "content_text": "a"}, credentials=resolver)
    assert "1//revoked" not in str(caught.value)
    assert CLIENT[1] not in str(caught.value)
    assert fake.calls == []
