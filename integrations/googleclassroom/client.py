"""What Google Classroom actions share: the OAuth token, course ids, and how Classroom answers.

**Why httpx, not the official SDK.** ``google-api-python-client`` (2.x) is synchronous
(``httplib2``) and builds its client from a discovery document; creating an announcement is one
JSON POST over the shared ``httpx.AsyncClient``.

**The wire** (verified, see below): ``POST https://classroom.googleapis.com/v1/courses/{courseId}/
announcements`` with an ``Announcement`` (``text`` ≤ 30,000 characters, ``materials`` ≤ 20,
``state`` ``PUBLISHED`` or ``DRAFT`` (Classroom's default), ``assigneeMode`` ``ALL_STUDENTS``
(the default) or ``INDIVIDUAL_STUDENTS`` with ``individualStudentsOptions.studentIds``); the
answer is the created announcement (``id``, ``alternateLink``, ``creationTime``, ...). The course
is its Classroom id (a number) or an alias: ``d:<name>`` (domain-scoped) or ``p:<name>``
(project-scoped), at most 256 characters. The bearer token needs the
``classroom.announcements`` scope, and the user must teach the course.

**Errors** are Google's newer shape (``{"error": {"code", "message", "status"}}``, a
``google.rpc.ErrorInfo`` detail for a scope error), read by :class:`~integrations.google.
GoogleApi`: 401 auth; 403 ``PERMISSION_DENIED`` (not a teacher of the course) permanent, an
insufficient scope auth naming ``classroom.announcements``; 404 (no such course) permanent;
400 ``INVALID_ARGUMENT`` invalid config, ``FAILED_PRECONDITION`` (e.g. the course is not active)
permanent; 429 ``RESOURCE_EXHAUSTED`` rate-limited (back off); 5xx by status.

**No idempotency**: Classroom takes no request id for announcements (only course aliases dedupe,
with ``ALREADY_EXISTS``), so a repeat posts again.

**Verified** (search tool, 2026-12): developers.google.com/classroom/reference/rest/v1/
courses.announcements (the fields, the 30,000-character text, 20 materials, ``DRAFT`` default,
``ALL_STUDENTS`` default, ``INDIVIDUAL_STUDENTS`` with ``individualStudentsOptions``) and
courses.aliases (``d:``/``p:`` aliases, 256 characters). From ``../shared/notes/wave2-apis.md``,
not re-found in Google's pages: 3000 queries per minute per client and 1200 per user, and
``RESOURCE_EXHAUSTED`` for a quota. **Not verified**: which characters an alias name may hold
(the pattern allows letters, digits and ``_.~-``) and the exact messages of Classroom's errors.
"""

from __future__ import annotations

from typing import ClassVar

from integrations.base import Category, CredentialsStrategy
from integrations.google import GoogleApi, access_token
from integrations.service import Service

__all__ = [
    "ACCESS_TOKEN",
    "COURSE_ID_PATTERN",
    "DEFAULT_BASE_URL",
    "GOOGLE_CLASSROOM",
    "SCOPE",
    "GoogleClassroom",
]

GOOGLE_CLASSROOM = Service(
    "googleclassroom", Category.EDUCATION, "#0F9D58", strategy=CredentialsStrategy.OAUTH
)

DEFAULT_BASE_URL = "https://classroom.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/classroom.announcements"
#: A Classroom course id (digits) or an alias, ``d:<name>`` / ``p:<name>`` (≤ 256 characters).
COURSE_ID_PATTERN = r"^([0-9]{1,20}|[dp]:[A-Za-z0-9_.~-]{1,254})$"

ACCESS_TOKEN = access_token(GOOGLE_CLASSROOM.name)
"""The bot's OAuth access token, in its ``googleclassroom`` credentials (strategy ``oauth``)."""


class GoogleClassroom(GoogleApi):
    """Classroom's answers: Google's errors; a scope error names ``classroom.announcements``."""

    name = "Google Classroom"
    scope: ClassVar[str] = SCOPE
