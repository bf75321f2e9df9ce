"""googleclassroom_create_announcement against the fake Classroom over a real loopback socket."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from integrations import errors
from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.credentials.oauth import token_endpoint
from integrations.google import GOOGLE_TOKEN
from integrations.googleclassroom.client import SCOPE
from integrations.googleclassroom.create_announcement import METADATA
from integrations.googleclassroom.testing import TOKEN_PATH, FakeGoogleClassroom
from support.integrations import Run
from support.resolvers import StubResolver

POST = {"course_id": "123456789", "text": "Контрольная в пятницу"}


def result(returned: dict[str, Any]) -> dict[str, Any]:
    assert returned["response"]["ok"] is True, returned
    value: dict[str, Any] = returned["response"]["result"]
    return value


async def test_posts_a_published_announcement(
    run: Run, fake: FakeGoogleClassroom, api_key: str, resolver: StubResolver, bot_id: str
) -> None:
    returned = result(await run(POST))
    [call] = fake.calls
    assert (call.method, call.path) == ("POST", "/v1/courses/123456789/announcements")
    assert call.token == api_key
    assert call.body == {"text": "Контрольная в пятницу", "state": "PUBLISHED"}
    assert resolver.calls == [(bot_id, "googleclassroom", "oauth")]
    assert returned["courseId"] == "123456789"
    assert returned["state"] == "PUBLISHED"
    assert returned["assigneeMode"] == "ALL_STUDENTS"
    assert returned["alternateLink"].startswith("https://classroom.google.com/")
    assert [a.id for a in fake.announcements] == [returned["id"]]


async def test_an_alias_links_and_some_students(run: Run, fake: FakeGoogleClassroom) -> None:
    config = {
        "course_id": "d:math_101",
        "text": "Read these",
        "state": "DRAFT",
        "links": ["https://example.com/a", "https://example.com/b?x=1"],
        "student_ids": ["me", "108000000000000000001", "pupil@school.example"],
    }
    returned = result(await run(config))
    [call] = fake.calls
    assert call.path == "/v1/courses/d:math_101/announcements"
    assert call.body["materials"] == [
        {"link": {"url": "https://example.com/a"}},
        {"link": {"url": "https://example.com/b?x=1"}},
    ]
    assert call.body["assigneeMode"] == "INDIVIDUAL_STUDENTS"
    assert call.body["individualStudentsOptions"]["studentIds"][0] == "me"
    assert (returned["state"], returned["courseId"]) == ("DRAFT", "123456789")
    assert "alternateLink" not in returned  # only a published announcement has one


def test_metadata_is_non_idempotent_and_reexecutes() -> None:
    assert METADATA.side_effect is SideEffect.NON_IDEMPOTENT
    assert METADATA.supports_idempotency_key is False
    assert METADATA.on_unknown_outcome is UnknownOutcomePolicy.REEXECUTE
    assert token_endpoint("googleclassroom") == GOOGLE_TOKEN


async def test_a_lost_answer_may_have_posted(run: Run, fake: FakeGoogleClassroom) -> None:
    fake.inject("lost_answer")
    with pytest.raises(errors.OutcomeUnknownError) as caught:
        await run(POST)
    assert caught.value.maybe_executed
    assert len(fake.announcements) == 1


async def test_resource_exhausted_is_rate_limited_without_a_wait(
    run: Run, fake: FakeGoogleClassroom
) -> None:
    fake.inject("resource_exhausted")
    with pytest.raises(errors.RateLimitedError) as caught:
        await run(POST)
    assert caught.value.retry_after_s is None
    assert fake.announcements == []


async def test_not_teaching_the_course_is_permanent(run: Run, fake: FakeGoogleClassroom) -> None:
    fake.refuse("123456789")
    with pytest.raises(errors.PermanentError) as caught:
        await run(POST)
    assert caught.value.code == 403
    assert caught.value.parameters["google_status"] == "PERMISSION_DENIED"


async def test_a_missing_scope_is_auth_naming_it(run: Run, fake: FakeGoogleClassroom) -> None:
    fake.fail_next(403)
    with pytest.raises(errors.AuthError) as caught:
        await run(POST)
    assert SCOPE in caught.value.message


async def test_an_unknown_course_is_permanent_and_an_archived_one_too(
    run: Run, fake: FakeGoogleClassroom
) -> None:
    with pytest.raises(errors.PermanentError) as unknown:
        await run({**POST, "course_id": "p:nope"})
    assert unknown.value.code == 404
    fake.archive("123456789")
    with pytest.raises(errors.PermanentError) as archived:
        await run(POST)
    assert archived.value.parameters["google_status"] == "FAILED_PRECONDITION"
    assert fake.announcements == []


async def test_invalid_argument_is_invalid_config(run: Run, fake: FakeGoogleClassroom) -> None:
    fake.fail_next(
        400,
        body={"error": {"code": 400, "message": "text: bad", "status": "INVALID_ARGUMENT"}},
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(errors.InvalidConfigError):
        await run(POST)


async def test_an_expired_token_is_auth_and_never_quoted(
    run: Run, fake: FakeGoogleClassroom, make_resolver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = fake.grant("client-1", "secret-1", refresh_token="1//c1", expires_in=-1)
    with pytest.raises(errors.AuthError) as caught:
        await run(POST, credentials=make_resolver({"access_token": expired}))
    assert caught.value.code == 401
    assert expired not in caught.value.message
    assert expired not in caplog.text
    assert fake.announcements == []


async def refresh(fake: FakeGoogleClassroom, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    form |= {"client_id": "client-1", "client_secret": "secret-1"}
    async with httpx.AsyncClient() as client:
        return await client.post(fake.url + TOKEN_PATH, data=form)


async def test_a_refreshed_token_is_accepted(
    run: Run, fake: FakeGoogleClassroom, make_resolver: Any
) -> None:
    fake.grant("client-1", "secret-1", refresh_token="1//c2", expires_in=-1)
    answer = await refresh(fake, "1//c2")
    body = answer.json()
    assert (answer.status_code, body["scope"], fake.refreshes) == (200, SCOPE, 1)
    assert "refresh_token" not in body  # Google does not rotate
    result(await run(POST, credentials=make_resolver({"access_token": body["access_token"]})))
    fake.revoke()
    dead = await refresh(fake, "1//c2")
    assert (dead.status_code, dead.json()["error"]) == (400, "invalid_grant")
