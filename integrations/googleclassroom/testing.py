"""A fake Google Classroom API (``courses.announcements.create``) with Google's token endpoint:
real HTTP on loopback, for tests and demos.

    async with FakeGoogleClassroom(tokens={"ya29.static"}) as fake:   # 127.0.0.1:<free port>
        fake.refuse("123456789")             # the caller does not teach it: 403 PERMISSION_DENIED
        fake.inject("resource_exhausted")    # the next create: 429 RESOURCE_EXHAUSTED
        fake.announcements                   # what was posted, in order

It answers as Classroom does (``integrations/googleclassroom/client.py`` for the sources), under
the :class:`~integrations.google.testing.FakeGoogle` base (token endpoint, bearer checks,
Google's errors; see there for ``grant``, ``revoke`` and ``refreshes``), in Google's newer error
shape (no ``errors`` list; an insufficient scope carries a ``google.rpc.ErrorInfo`` with
``ACCESS_TOKEN_SCOPE_INSUFFICIENT``, which is what a bare ``fail_next(403)`` answers).

A course is known by its id or one of its aliases (``courses``: id → aliases; default
``{"123456789": {"d:math_101"}}``); an unknown one is 404 ``NOT_FOUND``, an archived one
(``archive``) 400 ``FAILED_PRECONDITION``. The body is checked as Classroom checks it: ``text``
1-30,000 characters, ``state`` PUBLISHED or DRAFT, at most 20 ``materials``, and
``individualStudentsOptions`` with ``INDIVIDUAL_STUDENTS`` (400 ``INVALID_ARGUMENT`` otherwise).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from integrations.google.testing import TOKEN_PATH, DelayedInjection, FakeGoogle
from integrations.googleclassroom.client import SCOPE
from integrations.testing import BaseCall, ContractSubject

__all__ = [
    "CONTRACT",
    "TOKEN_PATH",
    "FakeGoogleClassroom",
    "FaultKind",
    "Injection",
    "PostedAnnouncement",
    "RecordedCall",
]

FaultKind = Literal[
    "resource_exhausted",  # 429 RESOURCE_EXHAUSTED
    "internal",  # 500 INTERNAL, nothing posted
    "lost_answer",  # the announcement IS posted, then the connection is closed
    "slow_answer",  # the announcement IS posted, its answer comes only after delay_s
]
_INSUFFICIENT_SCOPE = "Request had insufficient authentication scopes."


@dataclass(slots=True, kw_only=True)
class RecordedCall(BaseCall):
    """One API request the fake received; ``token``: its bearer token."""

    method: str
    path: str
    course: str
    token: str | None
    body: Any  # the decoded JSON body (None if it was not JSON)


@dataclass(slots=True)
class PostedAnnouncement:
    """An announcement the fake accepted."""

    id: str
    course_id: str
    body: dict[str, Any]
    token: str


Injection = DelayedInjection[FaultKind]


class FakeGoogleClassroom(FakeGoogle[RecordedCall, Injection]):
    """A fake Classroom API plus Google's token endpoint on ``host:port``, by ``async with``."""

    def __init__(
        self, *, courses: Mapping[str, Iterable[str]] | None = None, **options: Any
    ) -> None:
        options.setdefault("scope", SCOPE)
        super().__init__(**options)
        known = courses if courses is not None else {"123456789": {"d:math_101"}}
        self.courses: dict[str, set[str]] = {cid: set(aliases) for cid, aliases in known.items()}
        self.refused: set[str] = set()
        self.archived: set[str] = set()
        self.announcements: list[PostedAnnouncement] = []
        self._ids = itertools.count(700_000_000_001)

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_post("/v1/courses/{course}/announcements", self._create)

    def inject(self, kind: FaultKind, *, times: int | None = 1, delay_s: float = 30.0) -> Injection:
        """Make the next ``times`` creates (None: all) with a valid token meet ``kind``."""
        return self.queue(Injection(kind=kind, remaining=times, delay_s=delay_s))

    def refuse(self, course_id: str) -> None:
        """The caller does not teach ``course_id`` (its id): 403 ``PERMISSION_DENIED``."""
        self.refused.add(course_id)

    def archive(self, course_id: str) -> None:
        """``course_id`` is archived: 400 ``FAILED_PRECONDITION``."""
        self.archived.add(course_id)

    def clear(self) -> None:
        """Forget calls, faults, announcements, refusals and archived courses."""
        super().clear()
        self.announcements.clear()
        self.refused.clear()
        self.archived.clear()

    def error_response(
        self, status: int, message: str, *, retry_after_s: float | None = None
    ) -> web.Response:
        """Classroom's shape; a bare 403 is the insufficient-scope one, with its ErrorInfo."""
        if status == 403:
            return self.google_error(
                403, "", _INSUFFICIENT_SCOPE, status_name="PERMISSION_DENIED",
                error_info="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )  # fmt: skip
        return super().error_response(status, message, retry_after_s=retry_after_s)

    # -- the API ---------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await request.read()
        except ConnectionResetError:
            return self.disconnect(request)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        token, headers = self.caller(request)
        call = RecordedCall(
            method=request.method, path=request.path, course=request.match_info["course"],
            token=token, body=body, headers=headers,
        )  # fmt: skip
        self.calls.append(call)
        if self.bearer(request) is None:
            return self.answered(call, self.unauthenticated())
        assert token is not None  # bearer() accepted it
        course_id = self._course(call.course)
        refused = self._refusal(course_id, call.course, body)
        if refused is not None:
            return self.answered(call, refused)
        assert course_id is not None  # _refusal checked it
        assert isinstance(body, dict)
        injection = self.take_injection()
        if injection is not None and injection.kind == "resource_exhausted":
            quota = "Quota exceeded for quota metric 'Queries' of service classroom.googleapis.com"
            return self.answered(
                call, self.google_error(429, "", quota, error_info="RATE_LIMIT_EXCEEDED")
            )
        if injection is not None and injection.kind == "internal":
            return self.answered(call, self.error_response(500, "Internal error encountered."))
        posted = self._post(course_id, body, token)
        if injection is not None and injection.kind == "lost_answer":
            return self.disconnect(request)
        if injection is not None and injection.kind == "slow_answer":
            await self.wait_unless_closing(injection.delay_s)
        return self.answered(call, web.json_response(posted))

    def _course(self, named: str) -> str | None:
        if named in self.courses:
            return named
        return next((cid for cid, aliases in self.courses.items() if named in aliases), None)

    def _refusal(self, course_id: str | None, named: str, body: Any) -> web.Response | None:
        if course_id is None:
            return self._rpc_error(404, "NOT_FOUND", "Requested entity was not found.")
        if course_id in self.refused:
            return self._rpc_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if course_id in self.archived:
            message = "@CourseNotModifiable The course is not modifiable."
            return self._rpc_error(400, "FAILED_PRECONDITION", message)
        problem = _invalid(body)
        return None if problem is None else self._rpc_error(400, "INVALID_ARGUMENT", problem)

    def _rpc_error(self, status: int, name: str, message: str) -> web.Response:
        """Classroom's error: the gRPC status ``name``, and an ErrorInfo with the same reason."""
        return self.google_error(status, "", message, status_name=name, error_info=name)

    def _post(self, course_id: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        announcement_id = str(next(self._ids))
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        state = body.get("state") or "DRAFT"
        answer: dict[str, Any] = {
            "courseId": course_id,
            "id": announcement_id,
            "text": body["text"],
            "state": state,
            "creationTime": now,
            "updateTime": now,
            "assigneeMode": body.get("assigneeMode") or "ALL_STUDENTS",
            "creatorUserId": "105555555555555555555",
        }
        if state == "PUBLISHED":
            answer["alternateLink"] = (
                f"https://classroom.google.com/c/{course_id}/p/{announcement_id}"
            )
        for key in ("materials", "individualStudentsOptions"):
            if key in body:
                answer[key] = body[key]
        self.announcements.append(PostedAnnouncement(announcement_id, course_id, body, token))
        return answer


def _invalid(body: Any) -> str | None:
    """What Classroom's validation refuses in an announcement body, or ``None``."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return "text: Must be specified."
    if len(text) > 30_000:
        return "text: Must be at most 30000 characters."
    if body.get("state", "DRAFT") not in ("PUBLISHED", "DRAFT"):
        return "state: Invalid value."
    materials = body.get("materials", [])
    if not isinstance(materials, list) or len(materials) > 20:
        return "materials: At most 20 materials are allowed."
    mode = body.get("assigneeMode", "ALL_STUDENTS")
    options = body.get("individualStudentsOptions")
    if mode == "INDIVIDUAL_STUDENTS" and not (
        isinstance(options, dict) and options.get("studentIds")
    ):
        return "individualStudentsOptions: Must be specified for INDIVIDUAL_STUDENTS."
    return None


CONTRACT_TOKEN = "ya29.c0ntractAccessT0kenForTheFakeGoogleClassroom4d2c"  # noqa: S105 - the fake's
CONTRACT = ContractSubject(
    service="googleclassroom",
    fake=lambda: FakeGoogleClassroom(tokens={CONTRACT_TOKEN}),
    credentials={"access_token": CONTRACT_TOKEN},
    configs={"googleclassroom_create_announcement": {"course_id": "123456789", "text": "contract"}},
    invalid_configs={
        "googleclassroom_create_announcement": [
            ({"text": "x"}, "course_id"),
            ({"course_id": "123456789"}, "text"),
            ({"course_id": "../../v1/userProfiles/me", "text": "x"}, "course_id"),
            ({"course_id": "x:math", "text": "x"}, "course_id"),
            ({"course_id": "d:math/101", "text": "x"}, "course_id"),
            ({"course_id": "1", "text": ""}, "text"),
            ({"course_id": "1", "text": "x" * 30_001}, "text"),
            ({"course_id": "1", "text": "x", "state": "DELETED"}, "state"),
            ({"course_id": "1", "text": "x", "links": ["file:///etc/passwd"]}, "links"),
            ({"course_id": "1", "text": "x", "links": ["https://a.example/"] * 21}, "links"),
            ({"course_id": "1", "text": "x", "student_ids": []}, "student_ids"),
            ({"course_id": "1", "text": "x", "student_ids": ["a b"]}, "student_ids"),
            ({"course_id": "1", "text": "x", "materials": []}, "materials"),
        ],
    },
)  # fmt: skip
