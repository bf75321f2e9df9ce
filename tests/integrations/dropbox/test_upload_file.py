"""dropbox_upload_file against the fake Dropbox over a real loopback socket."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

import pytest

from integrations import errors
from integrations.base import SideEffect
from integrations.bot_logger import BotLogger
from integrations.dropbox.client import api_arg_header, content_hash
from integrations.dropbox.testing import FakeDropbox
from integrations.dropbox.upload_file import (
    MAX_UPLOAD_BYTES,
    METADATA,
    DropboxUploadFileIntegration,
)
from integrations.outcome import classify
from support.integrations import Run, http_clients

UPLOAD = {"path": "/Reports/Отчёт.txt", "content_text": "hello\x7f"}


async def test_uploads_bytes_with_the_json_header(
    run: Run, fake: FakeDropbox, resolver: Any, api_key: str, bot_id: str
) -> None:
    data = bytes(range(256)) * 10
    returned = await run(
        {"path": "/bin/data.bin", "content_base64": base64.b64encode(data).decode()}
    )
    [call] = fake.calls
    assert call.path == "/2/files/upload"
    assert call.headers["Authorization"] == f"Bearer {api_key}"
    assert call.headers["Content-Type"] == "application/octet-stream"
    assert call.body == data
    assert call.arg == {
        "path": "/bin/data.bin",
        "mode": "add",
        "autorename": False,
        "mute": False,
        "strict_conflict": False,
        "content_hash": content_hash(data),
    }
    assert resolver.calls == [(bot_id, "dropbox", "oauth")]
    result = returned["response"]["result"]
    assert (result["path_display"], result["size"], result["renamed"]) == (
        "/bin/data.bin",
        2560,
        False,
    )
    assert result["content_hash"] == content_hash(data)
    assert result["id"].startswith("id:") and result["rev"]
    assert fake.files["/bin/data.bin"].content == data


async def test_the_header_is_ascii_json_with_del_escaped(run: Run, fake: FakeDropbox) -> None:
    await run({"path": "/Отчёт\x7f.txt", "content_text": "текст"})
    raw = fake.calls[0].headers["Dropbox-API-Arg"]
    assert raw.isascii()
    assert "\\u041e" in raw and "\\u007f" in raw and "\x7f" not in raw
    assert json.loads(raw)["path"] == "/Отчёт\x7f.txt"
    assert fake.files["/отчёт\x7f.txt"].content == "текст".encode()
    assert api_arg_header({"p": "\x7f"}) == '{"p":"\\u007f"}'


def test_content_hash_is_dropboxs_block_hash() -> None:
    block = 4 * 1024 * 1024
    data = b"a" * (block + 10)
    expected = hashlib.sha256(
        hashlib.sha256(data[:block]).digest() + hashlib.sha256(data[block:]).digest()
    ).hexdigest()
    assert content_hash(data) == expected
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()


async def test_a_repeated_upload_writes_nothing_new_in_any_mode(
    run: Run, fake: FakeDropbox
) -> None:
    first = (await run({**UPLOAD, "autorename": True}))["response"]["result"]
    again = await run({**UPLOAD, "autorename": True})  # add + autorename: still no copy
    assert again["response"]["result"] == first
    over = await run({**UPLOAD, "mode": "overwrite"})
    assert over["response"]["result"]["rev"] == first["rev"]  # no new revision
    assert list(fake.files) == ["/reports/отчёт.txt"]


async def test_conflicts_follow_the_write_mode(run: Run, fake: FakeDropbox) -> None:
    fake.put("/a.txt", b"old")
    with pytest.raises(errors.PermanentError) as caught:
        await run({"path": "/a.txt", "content_text": "new"})
    assert caught.value.code == 409
    assert caught.value.parameters["error"].startswith("path/conflict")
    renamed = await run({"path": "/a.txt", "content_text": "new", "autorename": True})
    assert renamed["response"]["result"]["path_display"] == "/a (1).txt"
    assert renamed["response"]["result"]["renamed"] is True
    overwritten = await run({"path": "/a.txt", "content_text": "newer", "mode": "overwrite"})
    assert fake.files["/a.txt"].content == b"newer"
    rev = overwritten["response"]["result"]["rev"]
    await run({"path": "/a.txt", "content_text": "v3", "mode": "update", "rev": rev})
    assert fake.files["/a.txt"].content == b"v3"
    with pytest.raises(errors.PermanentError):  # the rev is stale now
        await run({"path": "/a.txt", "content_text": "v4", "mode": "update", "rev": rev})


@pytest.mark.parametrize(
    ("kind", "expected", "code", "words"),
    [
        ("rate_limit", errors.RateLimitedError, 429, "too_many_requests"),
        ("write_rate_limit", errors.RateLimitedError, 429, "too_many_write_operations"),
        ("expired_token", errors.AuthError, 401, "expired_access_token"),
        # A plain-text 400 that echoes the Authorization header it rejects: scrubbed.
        ("malformed_token", errors.AuthError, 401, "Invalid authorization value"),
        ("insufficient_space", errors.PermanentError, 409, "HTTP 409: path/insufficient_space"),
        ("no_write_permission", errors.PermanentError, 409, "path/no_write_permission"),
        ("too_many_write_operations", errors.TransientError, 409, "too many concurrent writes"),
        (
            "bad_request",
            errors.InvalidConfigError,
            400,
            "Dropbox-API-Arg",
        ),  # the plain text, quoted
    ],
)
async def test_injected_errors_become_typed_errors(
    run: Run,
    fake: FakeDropbox,
    logger: BotLogger,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: type[errors.IntegrationError],
    code: int,
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(kind, retry_after=7)  # type: ignore[arg-type]
    with pytest.raises(errors.IntegrationError) as caught:
        await run(UPLOAD)
    error = caught.value
    assert (type(error), error.code) == (expected, code)
    assert error.message.startswith("Dropbox POST files/upload: HTTP ")
    assert words in error.message
    if isinstance(error, errors.RateLimitedError):
        assert error.retry_after_s == 7  # the body's error.retry_after
    outcome = classify(error, secrets=logger.secrets)
    assert "Dropbox request failed" in caplog.text
    for text in (error.message, repr(outcome), caplog.text):
        assert api_key not in text
    assert (await run(UPLOAD))["response"]["ok"] is True  # one-shot fault


async def test_paths_dropbox_refuses(run: Run, fake: FakeDropbox) -> None:
    fake.put("/folder/inner.txt", b"x")
    with pytest.raises(errors.PermanentError) as conflict:  # a folder is at that path
        await run({"path": "/folder", "content_text": "x"})
    assert conflict.value.parameters["error"].startswith("path/conflict")
    with pytest.raises(errors.InvalidConfigError) as caught:  # a name Dropbox never stores
        await run({"path": "/folder/desktop.ini", "content_text": "x"})
    assert (caught.value.code, caught.value.parameters["error"]) == (409, "path/disallowed_name/..")


async def test_a_timeout_is_transient_and_the_retry_finds_the_same_file(
    fake: FakeDropbox, run: Run
) -> None:
    fake.inject("timeout", delay_s=5)
    async with http_clients("dropbox", base_url=fake.base_url, timeout_s=0.3) as slow:
        with pytest.raises(errors.TransientError) as caught:
            await run(UPLOAD, integration=DropboxUploadFileIntegration(slow))
    assert caught.value.code == 504
    assert caught.value.maybe_executed
    stored_rev = fake.files["/reports/отчёт.txt"].rev
    returned = await run({**UPLOAD, "autorename": True})
    assert returned["response"]["result"]["rev"] == stored_rev
    assert len(fake.files) == 1


async def test_malformed_and_revoked_credentials(
    run: Run, fake: FakeDropbox, make_resolver: Any
) -> None:
    with pytest.raises(errors.AuthError, match="access_token"):
        await run(UPLOAD, credentials=make_resolver({"token": "x"}))
    assert fake.calls == []
    with pytest.raises(errors.AuthError) as caught:
        await run(UPLOAD, credentials=make_resolver({"access_token": "sl.revoked"}))
    assert caught.value.parameters["error"].startswith("invalid_access_token")


async def test_bad_content_fails_before_any_call(run: Run, fake: FakeDropbox) -> None:
    with pytest.raises(errors.InvalidConfigError, match="base64"):
        await run({"path": "/a.bin", "content_base64": "not*base64"})
    big = "x" * (MAX_UPLOAD_BYTES // 2 + 1)
    with pytest.raises(errors.InvalidConfigError, match="limit"):
        await run({"path": "/a.txt", "content_text": "ё" * len(big)})  # 2 bytes per char
    assert fake.calls == []


def test_metadata_declares_a_repeat_harmless_and_an_oauth_token() -> None:
    assert METADATA.side_effect is SideEffect.IDEMPOTENT
    assert not METADATA.supports_idempotency_key
    assert (METADATA.credentials_provider, METADATA.credentials_strategy) == ("dropbox", "oauth")
