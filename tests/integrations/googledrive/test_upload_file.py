"""googledrive_upload_file against the fake Drive (and its token endpoint) over loopback."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.base import SideEffect
from integrations.credentials.oauth import token_endpoint
from integrations.google import GOOGLE_TOKEN_URL
from integrations.googledrive.client import SCOPE
from integrations.googledrive.testing import TOKEN_PATH, FakeGoogleDrive
from integrations.googledrive.upload_file import (
    APP_PROPERTY,
    MAX_UPLOAD_BYTES,
    METADATA,
    GoogleDriveUploadFileIntegration,
)
from integrations.http import HttpClients
from support.integrations import Run
from support.resolvers import StubResolver

UPLOAD = {"name": "Отчёт.txt", "content_text": "hello, drive"}


def result(returned: dict[str, Any]) -> dict[str, Any]:
    assert returned["response"]["ok"] is True, returned
    value: dict[str, Any] = returned["response"]["result"]
    return value


async def test_generates_an_id_then_uploads_metadata_and_media_as_multipart_related(
    run: Run, fake: FakeGoogleDrive, api_key: str, resolver: StubResolver, bot_id: str
) -> None:
    returned = result(await run(UPLOAD))
    search, generate, create = fake.calls
    assert (search.method, search.path) == ("GET", "/drive/v3/files")
    assert f"key='{APP_PROPERTY}'" in search.query["q"]
    assert (generate.method, generate.path) == ("GET", "/drive/v3/files/generateIds")
    assert generate.query == {"count": "1", "space": "drive", "type": "files"}
    assert (create.method, create.path) == ("POST", "/upload/drive/v3/files")
    assert create.query["uploadType"] == "multipart"
    assert create.headers["Content-Type"].startswith("multipart/related; boundary=")
    assert create.token == api_key
    assert create.metadata is not None
    assert create.metadata["name"] == "Отчёт.txt"
    assert create.metadata["id"] == returned["id"]
    assert set(create.metadata["appProperties"]) == {APP_PROPERTY}
    assert (create.media, create.media_type) == (b"hello, drive", "application/octet-stream")
    assert resolver.calls == [(bot_id, "googledrive", "oauth")]
    assert returned["name"] == "Отчёт.txt"
    assert (returned["size"], returned["deduplicated"]) == ("12", False)
    assert returned["webViewLink"].startswith("https://drive.google.com/")
    assert list(fake.files) == [returned["id"]]


async def test_base64_content_goes_to_a_folder_with_its_type(
    run: Run, fake: FakeGoogleDrive
) -> None:
    fake.folders.add("0BwwA4oUTeiV1TGRPeTVjaWRDY1E")
    data = bytes(range(256)) * 4
    config = {
        "name": "data.bin",
        "content_base64": base64.b64encode(data).decode(),
        "parent_id": "0BwwA4oUTeiV1TGRPeTVjaWRDY1E",
        "mime_type": "application/x-thing",
    }
    returned = result(await run(config))
    stored = fake.files[returned["id"]]
    assert (stored.content, stored.mime_type) == (data, "application/x-thing")
    assert returned["parents"] == ["0BwwA4oUTeiV1TGRPeTVjaWRDY1E"]
    assert fake.calls[-1].metadata is not None
    assert fake.calls[-1].metadata["parents"] == ["0BwwA4oUTeiV1TGRPeTVjaWRDY1E"]


async def test_a_retry_after_a_lost_answer_gets_409_and_returns_the_file_once(
    run: Run, fake: FakeGoogleDrive
) -> None:
    fake.inject("lost_answer")
    with pytest.raises(errors.OutcomeUnknownError) as caught:
        await run(UPLOAD, key="req-lost")
    assert caught.value.maybe_executed
    [made] = fake.files.values()
    returned = result(await run(UPLOAD, key="req-lost", attempt=2))
    assert (returned["id"], returned["deduplicated"]) == (made.id, True)
    assert len(fake.files) == 1
    assert [c.status for c in fake.calls if c.path == "/upload/drive/v3/files"][-1] == 409
    assert fake.calls[-1].path == f"/drive/v3/files/{made.id}"


async def test_a_first_attempt_that_is_not_finds_the_tagged_file(
    run: Run, fake: FakeGoogleDrive, clients: HttpClients
) -> None:
    # A redelivery after a crash may carry attempt 1 again: the search does not trust it.
    fake.inject("lost_answer")
    with pytest.raises(errors.OutcomeUnknownError):
        await run(UPLOAD, key="req-crash")
    restarted = GoogleDriveUploadFileIntegration(clients)
    returned = result(await run(UPLOAD, key="req-crash", attempt=1, integration=restarted))
    assert returned["deduplicated"] is True
    assert len(fake.files) == 1


async def test_a_retry_on_another_worker_finds_the_tagged_file_instead_of_a_second_copy(
    run: Run, fake: FakeGoogleDrive, clients: HttpClients
) -> None:
    fake.inject("lost_answer")
    with pytest.raises(errors.OutcomeUnknownError):
        await run(UPLOAD, key="req-moved")
    elsewhere = GoogleDriveUploadFileIntegration(clients)  # knows no generated id
    fake.calls.clear()
    returned = result(await run(UPLOAD, key="req-moved", attempt=2, integration=elsewhere))
    assert returned["deduplicated"] is True
    assert len(fake.files) == 1
    [search] = fake.calls  # no generateIds, no upload
    assert search.path == "/drive/v3/files"
    assert "appProperties has" in search.query["q"]


async def test_the_window_left_a_file_drive_has_not_indexed_yet_is_uploaded_again(
    run: Run, fake: FakeGoogleDrive, clients: HttpClients
) -> None:
    # Documented in upload_file.py: another worker, within Drive's indexing lag.
    fake.searchable = False
    fake.inject("lost_answer")
    with pytest.raises(errors.OutcomeUnknownError):
        await run(UPLOAD, key="req-lag")
    elsewhere = GoogleDriveUploadFileIntegration(clients)
    result(await run(UPLOAD, key="req-lag", attempt=2, integration=elsewhere))
    assert len(fake.files) == 2


async def test_different_requests_make_different_files(run: Run, fake: FakeGoogleDrive) -> None:
    first = result(await run(UPLOAD, key="req-a"))
    second = result(await run(UPLOAD, key="req-b"))
    assert first["id"] != second["id"]
    assert len(fake.files) == 2


def test_metadata_declares_the_generated_id_idempotency() -> None:
    assert METADATA.side_effect is SideEffect.IDEMPOTENT
    assert METADATA.supports_idempotency_key is True
    assert METADATA.credentials_strategy.value == "oauth"
    assert token_endpoint("googledrive") is not None
    assert token_endpoint("googledrive").url == GOOGLE_TOKEN_URL  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["user_rate_limit", "rate_limit", "too_many_requests"])
async def test_google_quota_answers_are_rate_limited_without_a_wait(
    run: Run, fake: FakeGoogleDrive, kind: Any
) -> None:
    fake.inject(kind)
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(UPLOAD)
    assert caught.value.retry_after_s is None  # Google sends no Retry-After: back off
    assert fake.files == {}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("storage_quota", "storageQuotaExceeded"),
        ("file_permissions", "insufficientFilePermissions"),
    ],
)
async def test_other_403s_are_permanent(
    run: Run, fake: FakeGoogleDrive, kind: Any, reason: str
) -> None:
    fake.inject(kind)
    with pytest.raises(errors.PermanentError) as caught:
        await run(UPLOAD)
    assert (caught.value.code, caught.value.parameters["google_reason"]) == (403, reason)


async def test_a_missing_scope_is_auth_naming_drive_file(run: Run, fake: FakeGoogleDrive) -> None:
    fake.fail_next(403)  # insufficientPermissions, Google's insufficient-scope answer
    with pytest.raises(errors.AuthError) as caught:
        await run(UPLOAD)
    assert SCOPE in caught.value.message
    assert "authorise" in caught.value.message


async def test_an_expired_access_token_is_auth_and_never_quoted(
    run: Run,
    fake: FakeGoogleDrive,
    make_resolver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = fake.grant("client-1", "secret-1", refresh_token="1//r-exp", expires_in=-1)
    with pytest.raises(errors.AuthError) as caught:
        await run(UPLOAD, credentials=make_resolver({"access_token": expired}))
    assert caught.value.code == 401
    assert "UNAUTHENTICATED" in str(caught.value.parameters) or "authError" in caught.value.message
    assert expired not in caught.value.message
    assert expired not in caplog.text


async def test_an_unknown_folder_is_permanent(run: Run, fake: FakeGoogleDrive) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        await run({**UPLOAD, "parent_id": "1NoSuchFolderAtAll000"})
    assert caught.value.code == 404
    assert fake.files == {}


async def test_a_server_error_of_the_create_may_have_run(run: Run, fake: FakeGoogleDrive) -> None:
    fake.inject("backend_error")
    with pytest.raises(errors.OutcomeUnknownError):
        await run(UPLOAD)


async def test_a_file_over_5_mb_is_refused_before_any_call(run: Run, fake: FakeGoogleDrive) -> None:
    data = b"\0" * (MAX_UPLOAD_BYTES + 1)
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run({"name": "big.bin", "content_base64": base64.b64encode(data).decode()})
    assert "resumable" in caught.value.message
    with pytest.raises(errors.InvalidConfigError):
        await run({"name": "big.txt", "content_text": "я" * (MAX_UPLOAD_BYTES // 2 + 1)})
    assert fake.calls == []


async def test_invalid_base64_is_refused(run: Run, fake: FakeGoogleDrive) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        await run({"name": "x", "content_base64": "not base64!"})
    assert "base64" in caught.value.message
    assert fake.calls == []


# -- the fake's token endpoint -----------------------------------------------------------------


async def refresh(fake: FakeGoogleDrive, **form: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(fake.url + TOKEN_PATH, data=form)


GRANT = {"grant_type": "refresh_token", "client_id": "client-1", "client_secret": "secret-1"}


async def test_the_token_endpoint_refreshes_without_rotating(fake: FakeGoogleDrive) -> None:
    fake.grant("client-1", "secret-1", refresh_token="1//r1")
    first = await refresh(fake, **GRANT, refresh_token="1//r1")
    again = await refresh(fake, **GRANT, refresh_token="1//r1")  # still valid: not rotated
    assert first.status_code == again.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert (body["token_type"], body["scope"]) == ("Bearer", SCOPE)
    assert fake.refreshes == 2
    assert fake.valid(body["access_token"])


async def test_a_revoked_grant_is_invalid_grant(fake: FakeGoogleDrive) -> None:
    fake.grant("client-1", "secret-1", refresh_token="1//r2")
    fake.revoke()
    answer = await refresh(fake, **GRANT, refresh_token="1//r2")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    unknown = await refresh(fake, **GRANT, refresh_token="1//never")
    assert unknown.json()["error"] == "invalid_grant"
    assert fake.refreshes == 0


async def test_a_wrong_client_or_grant_type_is_refused(fake: FakeGoogleDrive) -> None:
    fake.grant("client-1", "secret-1", refresh_token="1//r3")
    wrong = await refresh(fake, **{**GRANT, "client_secret": "nope"}, refresh_token="1//r3")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    code = await refresh(fake, **{**GRANT, "grant_type": "authorization_code"})
    assert code.json()["error"] == "unsupported_grant_type"


async def test_an_access_token_works_until_it_expires(
    run: Run, fake: FakeGoogleDrive, make_resolver: Any
) -> None:
    access = fake.grant("client-1", "secret-1", refresh_token="1//r4", expires_in=60)
    result(await run(UPLOAD, key="req-t1", credentials=make_resolver({"access_token": access})))
    fake.grants.clock = lambda: time.time() + 61
    with pytest.raises(errors.AuthError):
        await run(UPLOAD, key="req-t2", credentials=make_resolver({"access_token": access}))
    fresh = (await refresh(fake, **GRANT, refresh_token="1//r4")).json()["access_token"]
    creds = make_resolver({"access_token": fresh})
    result(await run(UPLOAD, key="req-t3", credentials=creds))
