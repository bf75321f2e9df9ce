"""``googleclassroom_create_announcement``: post an announcement to a Google Classroom course."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.googleclassroom.client import (
    ACCESS_TOKEN,
    COURSE_ID_PATTERN,
    DEFAULT_BASE_URL,
    GOOGLE_CLASSROOM,
    GoogleClassroom,
)
from integrations.http import KeyedHttpIntegration
from integrations.outcome import ok

MAX_TEXT_CHARS = 30_000  # Classroom's limit on an announcement's text
MAX_LINKS = 20  # Classroom's limit on an announcement's materials
MAX_STUDENTS = 100  # ours: Classroom documents no limit
_STUDENT_PATTERN = r"^([0-9]{1,30}|me|[^@\s]{1,64}@[A-Za-z0-9.-]{1,190})$"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "course_id": {
            "description": "The course: its Classroom id (digits) or an alias, d:<name> "
            "(domain) or p:<name> (project)",
            "type": "string",
            "maxLength": 256,
            "pattern": COURSE_ID_PATTERN,
        },
        "text": {
            "description": f"The announcement's text (1-{MAX_TEXT_CHARS} characters)",
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TEXT_CHARS,
        },
        "state": {
            "description": "PUBLISHED (students see it now, the default here) or DRAFT "
            "(only teachers see it)",
            "enum": ["PUBLISHED", "DRAFT"],
            "default": "PUBLISHED",
        },
        "links": {
            "description": f"Up to {MAX_LINKS} links attached as materials",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LINKS,
            "items": {
                "description": "An http(s) URL to attach",
                "type": "string",
                "format": "uri",
                "maxLength": 2048,
                "pattern": "^https?://[^\\s]+$",
            },
        },
        "student_ids": {
            "description": f"Only these students (up to {MAX_STUDENTS}: user ids, emails or "
            "'me') see it; default: all students of the course",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STUDENTS,
            "uniqueItems": True,
            "items": {
                "description": "A student's user id, email address, or 'me'",
                "type": "string",
                "maxLength": 256,
                "pattern": _STUDENT_PATTERN,
            },
        },
    },
    "required": ["course_id", "text"],
    "additionalProperties": False,
}

METADATA = GOOGLE_CLASSROOM.action(
    "create_announcement",
    name="Google Classroom Create Announcement",
    description="Post an announcement (text, optional links) to a Google Classroom course, for "
    "all its students or some.",
    config_schema=CONFIG_SCHEMA,
    # Classroom takes no request id for announcements: a repeat posts a second one.
    side_effect=SideEffect.NON_IDEMPOTENT,
    timeout_s=20.0,  # above the 15 s HTTP timeout, so a slow answer ends as OutcomeUnknownError
    max_attempts=3,
    # As moodle_send_message and discord_execute_webhook do for messages: after a lost answer
    # a rare duplicate announcement beats one silently never posted.
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # 1200 queries per minute per user (each bot's grant is one user); 3000 per minute per
    # client is the platform's whole OAuth app, which no per-bot limiter can count.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=1200, period_s=60.0),),
)


def announcement(config: dict[str, Any]) -> dict[str, Any]:
    """The ``Announcement`` to create from a schema-valid ``config``."""
    body: dict[str, Any] = {"text": config["text"], "state": config.get("state", "PUBLISHED")}
    if "links" in config:
        body["materials"] = [{"link": {"url": url}} for url in config["links"]]
    if "student_ids" in config:
        body["assigneeMode"] = "INDIVIDUAL_STUDENTS"
        body["individualStudentsOptions"] = {"studentIds": list(config["student_ids"])}
    return body


_RESULT_FIELDS = (
    "id",
    "courseId",
    "state",
    "alternateLink",
    "creationTime",
    "assigneeMode",
    "creatorUserId",
)


class GoogleClassroomCreateAnnouncementIntegration(KeyedHttpIntegration):
    """Create an announcement with ``courses.announcements.create`` (Classroom API v1, OAuth).

    Config: ``course_id`` (an id or a ``d:``/``p:`` alias), ``text`` (1-30,000 characters),
    ``state`` (PUBLISHED, the default here, or DRAFT), ``links`` (up to 20 URLs) and
    ``student_ids`` (only these students). Credentials (``oauth``): ``{"access_token": ...}``
    with the ``classroom.announcements`` scope of a teacher of the course, plus the refresh
    token and client the resolver renews it with. Returns the announcement's ``id``,
    ``courseId``, ``state``, ``alternateLink``, ``creationTime``, ``assigneeMode`` and
    ``creatorUserId``. Not idempotent: a repeat posts again.
    """

    service: ClassVar[str] = GOOGLE_CLASSROOM.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = GoogleClassroom()
    secret = ACCESS_TOKEN
    http_timeout_s: ClassVar[float] = 15.0

    metadata = METADATA

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        course = config["course_id"]
        reply = await self.call(
            "POST", f"v1/courses/{quote(course, safe=':')}/announcements",
            json=announcement(config), headers={"Authorization": f"Bearer {token}"},
            secrets=[token], what=f"announcements.create in course {course}", logger=logger,
        )  # fmt: skip
        created = reply.body
        result = {name: created[name] for name in _RESULT_FIELDS if name in created}
        logger.info("classroom announcement created", course_id=course, id=result.get("id"))
        return ok(result)
