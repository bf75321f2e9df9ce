"""Credentials sources: one contract suite run against every source, then each one's specifics."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from integrations.credentials import (
    CredentialsConfigError,
    CredentialsSource,
    CredentialsSourceBrokenError,
    CredentialsSourceError,
    CredentialsUnavailableError,
    EnvCredentialsSource,
    FileCredentialsSource,
    HttpCredentialsSource,
    MemoryCredentialsSource,
    build_source,
)
from integrations.credentials.sources.base import WritableCredentialsSource
from integrations.errors import OutcomeCategory
from integrations.outcome import classify
from processors.settings import CredentialsSettings

Data = dict[tuple[str, str, str], dict[str, Any]]
SourceFactory = Callable[[Data], CredentialsSource]


def nested(data: Data) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for (bot, provider, strategy), creds in data.items():
        out.setdefault(bot, {}).setdefault(provider, {})[strategy] = creds
    return out


@pytest.fixture(params=["memory", "file", "env", "http"])
async def make_source(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform_api: Any,
    api_token: str,
) -> AsyncIterator[SourceFactory]:
    """``make_source(data)``: a source of the parametrised kind holding exactly ``data``."""
    made: list[CredentialsSource] = []

    def make(data: Data) -> CredentialsSource:
        source: CredentialsSource
        if request.param == "memory":
            source = MemoryCredentialsSource(nested(data))
        elif request.param == "file":
            path = tmp_path / "credentials.json"
            path.write_text(json.dumps(nested(data)))
            source = FileCredentialsSource(path)
        elif request.param == "env":
            for (bot, provider, strategy), creds in data.items():
                name = EnvCredentialsSource.variable_name(bot, provider, strategy)
                monkeypatch.setenv(name, json.dumps(creds))
            source = EnvCredentialsSource()
        else:
            platform_api.data.update(data)
            source = HttpCredentialsSource(platform_api.base_url, SecretStr(api_token))
        made.append(source)
        return source

    yield make
    for source in made:
        await source.aclose()


def bot() -> str:
    return str(uuid.uuid4())


# -- the contract: every source -------------------------------------------------------------------


async def test_contract_returns_the_credentials_as_stored(make_source: SourceFactory) -> None:
    bot_id = bot()
    creds = {"token": "123:ABC", "extra": {"chat_ids": [1, 2]}, "ttl": 3600, "name": "Бот"}
    source = make_source({(bot_id, "telegram", "api_key"): creds})

    assert await source.fetch(bot_id, "telegram", "api_key") == creds


async def test_contract_absent_credentials_are_none(make_source: SourceFactory) -> None:
    bot_id = bot()
    source = make_source({(bot_id, "telegram", "api_key"): {"token": "t"}})

    assert await source.fetch(bot(), "telegram", "api_key") is None  # unknown bot
    assert await source.fetch(bot_id, "openai", "api_key") is None  # unknown provider
    assert await source.fetch(bot_id, "telegram", "oauth") is None  # unknown strategy


async def test_contract_each_bot_gets_its_own(make_source: SourceFactory) -> None:
    bots = [bot() for _ in range(5)]
    source = make_source({(b, "telegram", "api_key"): {"token": f"token-of-{b}"} for b in bots})

    for b in bots:
        assert await source.fetch(b, "telegram", "api_key") == {"token": f"token-of-{b}"}


async def test_contract_strategies_and_providers_are_separate(make_source: SourceFactory) -> None:
    bot_id = bot()
    data: Data = {
        (bot_id, "telegram", "api_key"): {"token": "tg"},
        (bot_id, "google-drive", "oauth"): {"access_token": "at", "refresh_token": "rt"},
        (bot_id, "google-drive", "api_key"): {"key": "k"},
    }
    source = make_source(data)

    for (b, provider, strategy), creds in data.items():
        assert await source.fetch(b, provider, strategy) == creds


async def test_contract_results_are_independent_copies(make_source: SourceFactory) -> None:
    bot_id = bot()
    source = make_source({(bot_id, "telegram", "api_key"): {"token": "t", "nested": {"a": 1}}})

    first = await source.fetch(bot_id, "telegram", "api_key")
    assert first is not None
    first["token"] = "changed"
    first["nested"]["a"] = 2

    assert await source.fetch(bot_id, "telegram", "api_key") == {"token": "t", "nested": {"a": 1}}


async def test_contract_writable_sources_store_by_compare_and_set(
    make_source: SourceFactory,
) -> None:
    bot_id = bot()
    key = (bot_id, "dropbox", "oauth")
    source = make_source({key: {"access_token": "a0", "refresh_token": "r0"}})
    if not isinstance(source, WritableCredentialsSource):
        assert isinstance(source, EnvCredentialsSource)  # the one source that cannot be written
        return
    first = {"access_token": "a1", "refresh_token": "r1", "version": 1}
    assert await source.store(*key, first, expected_version=None) is True
    assert await source.fetch(*key) == first
    stale = {"access_token": "a1-stale", "refresh_token": "r1-stale", "version": 1}
    assert await source.store(*key, stale, expected_version=None) is False  # read before 1
    second = {"access_token": "a2", "refresh_token": "r2", "version": 2}
    assert await source.store(*key, second, expected_version=1) is True
    assert await source.store(*key, stale, expected_version=1) is False
    assert await source.fetch(*key) == second
    assert await source.store(bot(), "dropbox", "oauth", first, expected_version=None) in (
        False,  # memory, file: nothing to replace
        True,  # http: the platform decides (it may create)
    )


async def test_file_source_writes_are_whole_files_under_a_lock(tmp_path: Path) -> None:
    bot_id = bot()
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({bot_id.upper(): {"dropbox": {"oauth": {"access_token": "a0"}}}}))
    path.chmod(0o600)
    source = FileCredentialsSource(path)
    writes = [
        source.store(bot_id, "dropbox", "oauth", {"access_token": f"a{n}", "version": 1},
                     expected_version=None)
        for n in range(8)
    ]  # fmt: skip
    assert sorted(await asyncio.gather(*writes)) == [False] * 7 + [True]  # one winner
    document = json.loads(path.read_text())
    assert list(document) == [bot_id.upper()]  # the bot's key as the platform wrote it
    assert document[bot_id.upper()]["dropbox"]["oauth"]["version"] == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["credentials.json", "credentials.json.lock"]


# -- HTTP -----------------------------------------------------------------------------------------


async def http_source(api: Any, **options: Any) -> HttpCredentialsSource:
    return HttpCredentialsSource(api.base_url, SecretStr(api.token), **options)


async def test_http_sends_the_service_token_and_strategy(platform_api: Any) -> None:
    bot_id = bot()
    platform_api.data[(bot_id, "telegram", "api_key")] = {"token": "t"}
    source = await http_source(platform_api)
    try:
        await source.fetch(bot_id, "telegram", "api_key")
    finally:
        await source.aclose()

    (request,) = platform_api.requests
    assert request.headers["Authorization"] == f"Bearer {platform_api.token}"
    assert request.headers["Accept"] == "application/json"
    assert request.path == f"/internal/credentials/bots/{bot_id}/credentials/telegram"
    assert request.query["strategy"] == "api_key"


async def test_http_rejected_service_token_is_a_configuration_error(
    platform_api: Any,
) -> None:
    wrong = "not-the-service-token"
    source = HttpCredentialsSource(platform_api.base_url, SecretStr(wrong))
    try:
        with pytest.raises(CredentialsSourceError) as caught:
            await source.fetch(bot(), "telegram", "api_key")
    finally:
        await source.aclose()

    assert caught.value.retryable is False
    assert "401" in str(caught.value)
    assert "ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN" in str(caught.value)
    assert wrong not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(403, False), (400, False), (429, True), (500, True), (502, True), (503, True)],
)
async def test_http_status_decides_retryable(
    platform_api: Any, status: int, retryable: bool
) -> None:
    platform_api.status = status
    platform_api.body = '{"token": "leaked-secret-in-error-body"}'
    source = await http_source(platform_api)
    try:
        with pytest.raises(CredentialsSourceError) as caught:
            await source.fetch(bot(), "telegram", "api_key")
    finally:
        await source.aclose()

    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value)
    assert "leaked-secret" not in str(caught.value)
    assert platform_api.token not in str(caught.value)
    # The message reaches results: it names the provider, never the internal API's address.
    assert platform_api.base_url not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)
    assert "'telegram'" in str(caught.value)


@pytest.mark.parametrize("body", ["<html>oops</html>", '["token", "secret-in-list"]'])
async def test_http_200_that_is_not_an_object_is_not_retryable(
    platform_api: Any, body: str
) -> None:
    platform_api.status = 200
    platform_api.body = body
    source = await http_source(platform_api)
    try:
        with pytest.raises(CredentialsSourceError) as caught:
            await source.fetch(bot(), "telegram", "api_key")
    finally:
        await source.aclose()

    assert caught.value.retryable is False
    assert "secret-in-list" not in str(caught.value)


async def test_http_timeout_is_retryable(platform_api: Any) -> None:
    platform_api.delay_s = 1.0
    source = await http_source(platform_api, timeout_s=0.1)
    try:
        with pytest.raises(CredentialsSourceError, match="timed out") as caught:
            await source.fetch(bot(), "telegram", "api_key")
    finally:
        await source.aclose()
    assert caught.value.retryable is True


async def test_http_connection_refused_is_retryable(closed_port: int, api_token: str) -> None:
    source = HttpCredentialsSource(f"http://127.0.0.1:{closed_port}", SecretStr(api_token))
    try:
        with pytest.raises(CredentialsSourceError) as caught:
            await source.fetch(bot(), "telegram", "api_key")
    finally:
        await source.aclose()
    assert caught.value.retryable is True
    assert api_token not in str(caught.value)


async def test_http_injected_client_is_used_and_left_open(platform_api: Any) -> None:
    bot_id = bot()
    platform_api.data[(bot_id, "telegram", "api_key")] = {"token": "t"}
    async with httpx.AsyncClient() as client:
        source = await http_source(platform_api, client=client)
        assert await source.fetch(bot_id, "telegram", "api_key") == {"token": "t"}
        await source.aclose()
        assert not client.is_closed


# -- file -----------------------------------------------------------------------------------------


async def test_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    bot_id = bot()
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({bot_id: {"telegram": {"api_key": {"token": "old"}}}}))
    source = FileCredentialsSource(path)
    assert await source.fetch(bot_id, "telegram", "api_key") == {"token": "old"}

    path.write_text(json.dumps({bot_id: {"telegram": {"api_key": {"token": "newer"}}}}))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse-mtime filesystems

    assert await source.fetch(bot_id, "telegram", "api_key") == {"token": "newer"}


async def test_concurrent_fetches_share_one_read_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker starting under a backlog of many bots: every request misses at once.
    bots = [bot() for _ in range(300)]
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({b: {"telegram": {"api_key": {"token": b}}} for b in bots}))
    source = FileCredentialsSource(path)
    reads = 0
    load = source._load

    def counted() -> Any:
        nonlocal reads
        reads += 1
        return load()

    monkeypatch.setattr(source, "_load", counted)
    impatient = asyncio.ensure_future(source.fetch(bots[0], "telegram", "api_key"))
    await asyncio.sleep(0)
    impatient.cancel()  # a caller giving up does not cancel the read the others wait on
    found = await asyncio.gather(*(source.fetch(b, "telegram", "api_key") for b in bots))
    assert found == [{"token": b} for b in bots]
    assert reads == 1
    assert await source.fetch(bots[1], "telegram", "api_key") == {"token": bots[1]}
    assert reads == 1


async def test_file_keys_are_normalised_like_bot_ids(tmp_path: Path) -> None:
    bot_uuid = uuid.uuid4()
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({str(bot_uuid).upper(): {"telegram": {"api_key": {"token": "t"}}}}))

    source = FileCredentialsSource(path)

    assert await source.fetch(str(bot_uuid), "telegram", "api_key") == {"token": "t"}


async def test_file_missing_names_the_file_and_the_setting(tmp_path: Path) -> None:
    source = FileCredentialsSource(tmp_path / "nope.json")
    with pytest.raises(CredentialsSourceError) as caught:
        await source.fetch(bot(), "telegram", "api_key")
    assert caught.value.retryable is False
    assert "nope.json" in str(caught.value)
    assert "ACTIONSTREAM_CREDENTIALS__FILE_PATH" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '{"bot": {"telegram": {"api_key": {"token": "secret-123"}}',  # truncated
        '{"b0t": {"telegram": {"api_key": "secret-123"}}}',  # credentials not an object
        '["secret-123"]',
    ],
)
async def test_file_malformed_never_shows_its_content(tmp_path: Path, text: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(text)
    with pytest.raises(CredentialsSourceError) as caught:
        await FileCredentialsSource(path).fetch(bot(), "telegram", "api_key")
    assert caught.value.retryable is False
    assert str(path) in str(caught.value)
    assert "secret-123" not in str(caught.value)


# -- env ------------------------------------------------------------------------------------------


def test_env_variable_name_format() -> None:
    name = EnvCredentialsSource.variable_name(
        "6f1c2a9e-0000-4000-8000-00000000abcd", "google-drive", "api_key"
    )
    assert name == "ACTIONSTREAM_CRED__6F1C2A9E_0000_4000_8000_00000000ABCD__GOOGLE_DRIVE__API_KEY"


@pytest.mark.parametrize("bot_id", ["MY-BOT", "my_bot", "my.bot", "Bot-1"])
async def test_env_refuses_bot_ids_that_would_share_a_variable(bot_id: str) -> None:
    # my-bot, MY_BOT and my.bot all map to ACTIONSTREAM_CRED__MY_BOT__...: only my-bot may.
    name = EnvCredentialsSource.variable_name("my-bot", "telegram", "api_key")
    source = EnvCredentialsSource({name: '{"token": "belongs-to-my-bot"}'})
    assert await source.fetch("my-bot", "telegram", "api_key") == {"token": "belongs-to-my-bot"}
    with pytest.raises(CredentialsSourceError, match="cannot tell bot"):
        await source.fetch(bot_id, "telegram", "api_key")


async def test_env_invalid_json_names_the_variable_not_the_value() -> None:
    bot_id = bot()
    name = EnvCredentialsSource.variable_name(bot_id, "telegram", "api_key")
    source = EnvCredentialsSource({name: "token=secret-123"})
    with pytest.raises(CredentialsSourceError) as caught:
        await source.fetch(bot_id, "telegram", "api_key")
    assert name in str(caught.value)
    assert "secret-123" not in str(caught.value)


# -- build_source ---------------------------------------------------------------------------------


async def test_build_source_picks_the_configured_kind(tmp_path: Path) -> None:
    built = [
        build_source(CredentialsSettings(source="file", file_path=tmp_path / "c.json")),
        build_source(CredentialsSettings(source="env")),
        build_source(CredentialsSettings(source="http", http_token=SecretStr("t"))),
    ]
    try:
        assert [type(s) for s in built] == [
            FileCredentialsSource,
            EnvCredentialsSource,
            HttpCredentialsSource,
        ]
    finally:
        for source in built:
            await source.aclose()


def test_build_http_source_without_token_refuses() -> None:
    with pytest.raises(CredentialsConfigError, match="ACTIONSTREAM_CREDENTIALS__HTTP_TOKEN"):
        build_source(CredentialsSettings(source="http"))


# -- errors ---------------------------------------------------------------------------------------


def test_source_errors_are_classified_like_integration_errors() -> None:
    down = classify(CredentialsUnavailableError("credentials API GET … answered 503"))
    broken = classify(CredentialsSourceBrokenError("credentials API GET … answered 401"))

    assert (down.category, down.retryable) == (OutcomeCategory.TRANSIENT, True)
    assert (broken.category, broken.retryable) == (OutcomeCategory.PERMANENT, False)
