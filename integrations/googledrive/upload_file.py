"""``googledrive_upload_file``: upload up to 5 MB into the bot owner's Google Drive, once.

**Size.** One multipart upload carries at most 5 MB (Drive's limit for ``uploadType=multipart``);
a larger file would need a resumable upload session, which this action does not support: the
decoded bytes are bounded here, with a message saying so.

**Idempotency** (decided): Drive refuses ids it did not make (a client-chosen or derived id gets
``400 "The provided file ID is not usable."``), so the id cannot come from our idempotency key.
Instead each request gets one id from ``files.generateIds`` and keeps it for every attempt:

1. the id is remembered per request (its idempotency key) in the integration, so a retry on
   the same worker creates with the same id; Drive answers that retry ``409``, which is turned
   into the success it stands for: the file is read (``files.get``) and returned, with
   ``"deduplicated": true``;
2. every file also carries ``appProperties.actionstreamRequest`` (a hash of the bot and the
   key). An attempt that does not have the id (the first one, or a retry on another worker or
   after a restart: the attempt number cannot tell these apart after a crash) first searches
   for that property and returns the file it finds, the same way. That is one read more per
   upload, bought for not trusting the attempt counter.

What remains: a retry on another worker within the moment Drive's search takes to index a
just-created file could miss it and upload a second copy. The action is declared idempotent,
that window aside.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import time
from collections import OrderedDict
from typing import Any, ClassVar

from integrations.base import RateLimit, RateLimitScope, SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.context import provider_idempotency_key, request_context
from integrations.errors import InvalidConfigError, PermanentError, TransientError
from integrations.googledrive.client import (
    ACCESS_TOKEN,
    DEFAULT_BASE_URL,
    GOOGLE_DRIVE,
    GoogleDrive,
)
from integrations.http import HttpClients, KeyedHttpIntegration
from integrations.outcome import ok

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # Drive's multipart limit; resumable uploads are not supported
_MAX_BASE64_CHARS = math.ceil(MAX_UPLOAD_BYTES / 3) * 4
MAX_NAME_CHARS = 255  # ours: Drive documents no limit
FILE_ID_PATTERN = r"^[A-Za-z0-9_-]{10,128}$"
APP_PROPERTY = "actionstreamRequest"
_FIELDS = "id,name,mimeType,size,parents,webViewLink,md5Checksum,createdTime"
_RESULT_FIELDS = tuple(_FIELDS.split(","))
_ID = re.compile(FILE_ID_PATTERN)
_MIME_PART = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}"  # a MIME type's type or subtype (RFC 6838)
#: How many requests' generated ids one integration remembers, and for how long.
_REMEMBERED = 10_000
_REMEMBER_S = 24 * 3600.0

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {
            "description": f"The file's name in Drive (1-{MAX_NAME_CHARS} characters, no "
            "control characters)",
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NAME_CHARS,
            "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
        },
        "content_base64": {
            "description": "The file's bytes, base64-encoded (≤5 MB decoded)",
            "type": "string",
            "maxLength": _MAX_BASE64_CHARS,
            "contentEncoding": "base64",
        },
        "content_text": {
            "description": "The file's content as text, stored UTF-8-encoded (≤5 MB)",
            "type": "string",
            "maxLength": MAX_UPLOAD_BYTES,
        },
        "parent_id": {
            "description": "The id of the folder to put it in (default: My Drive's root); with "
            "the drive.file scope, a folder this app created or was given",
            "type": "string",
            "pattern": "^([A-Za-z0-9_-]{10,128}|root)$",
        },
        "mime_type": {
            "description": "The file's MIME type, e.g. text/plain (default: Drive guesses); "
            "Google Docs formats (application/vnd.google-apps.*) are refused",
            "type": "string",
            "maxLength": 127,
            "pattern": f"^{_MIME_PART}/{_MIME_PART}$",
            "not": {"pattern": "^application/vnd\\.google-apps\\."},
        },
    },
    "required": ["name"],
    "oneOf": [{"required": ["content_base64"]}, {"required": ["content_text"]}],
    "additionalProperties": False,
}

METADATA = GOOGLE_DRIVE.action(
    "upload_file",
    name="Google Drive Upload File",
    description="Upload a file (up to 5 MB, base64 or text) into a Google Drive folder, once "
    "per request.",
    config_schema=CONFIG_SCHEMA,
    # One generated id per request, a 409 on a repeat turned into the file, and a tagged search
    # for a retry that lost the id (see the module's docstring for the one window left).
    side_effect=SideEffect.IDEMPOTENT,
    supports_idempotency_key=True,
    idempotency_window_s=_REMEMBER_S,  # how long this integration keeps a request's id
    timeout_s=75.0,  # above the 60 s HTTP timeout: three calls, one of them 5 MB
    max_attempts=5,
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # Drive's query table: 12,000 queries per 60 s per user; an upload makes three calls.
    rate_limits=(RateLimit(scope=RateLimitScope.CREDENTIAL, limit=4000, period_s=60.0),),
)


def file_content(config: dict[str, Any]) -> bytes:
    """The bytes of a schema-valid ``config``; :class:`InvalidConfigError` past 5 MB."""
    text = config.get("content_text")
    where = "$.content_text" if text is not None else "$.content_base64"
    data: bytes
    if isinstance(text, str):
        data = text.encode("utf-8")
    else:
        try:
            data = base64.b64decode(config["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidConfigError(
                f"{where}: not valid base64; encode the file's bytes (RFC 4648)"
            ) from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidConfigError(
            f"{where}: the file is {len(data)} bytes, over the {MAX_UPLOAD_BYTES}-byte limit "
            "of a multipart upload; files above 5 MB need a resumable upload, which this "
            "action does not support"
        )
    return data


def file_metadata(config: dict[str, Any], file_id: str, tag: str) -> dict[str, Any]:
    """The JSON part of the upload: the generated ``id``, the name, folder, type and tag."""
    meta: dict[str, Any] = {"id": file_id, "name": config["name"]}
    if "parent_id" in config:
        meta["parents"] = [config["parent_id"]]
    if "mime_type" in config:
        meta["mimeType"] = config["mime_type"]
    meta["appProperties"] = {APP_PROPERTY: tag}
    return meta


def multipart_related(meta: dict[str, Any], data: bytes, mime_type: str) -> tuple[bytes, str]:
    """The ``multipart/related`` body (metadata part, media part) and its Content-Type."""
    boundary = "actionstream-" + secrets.token_hex(16)
    while boundary.encode() in data:  # practically never; a boundary must not occur inside
        boundary = "actionstream-" + secrets.token_hex(16)
    head = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        f"{json.dumps(meta, ensure_ascii=False)}\r\n"
        f"--{boundary}\r\nContent-Type: {mime_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data + tail, f"multipart/related; boundary={boundary}"


def request_tag(logger: BotLogger) -> str:
    """The hash of this request's idempotency key and bot that tags its file."""
    context = request_context()
    key = provider_idempotency_key(max_chars=4096, header="appProperties tag", logger=logger)
    bot = context.bot_id if context is not None else ""
    return hashlib.sha256(f"googledrive:{bot}:{key}".encode()).hexdigest()


class GoogleDriveUploadFileIntegration(KeyedHttpIntegration):
    """Upload a file with ``files.create`` (multipart, Drive API v3, OAuth bearer token).

    Config: ``name``, the content as ``content_text`` or ``content_base64`` (one of them, ≤5 MB),
    ``parent_id`` (a folder id, or ``root``) and ``mime_type``. Credentials (``oauth``):
    ``{"access_token": ...}`` with the ``drive.file`` scope, plus the refresh token and client
    the resolver renews it with. Returns the file (``id``, ``name``, ``mimeType``, ``size``,
    ``parents``, ``webViewLink``, ``md5Checksum``, ``createdTime``) and ``deduplicated``: true
    when a repeat of the request found the file its first attempt made.
    """

    service: ClassVar[str] = GOOGLE_DRIVE.name
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    provider = GoogleDrive()
    secret = ACCESS_TOKEN
    http_timeout_s: ClassVar[float] = 60.0  # 5 MB on a slow link

    metadata = METADATA

    def __init__(self, clients: HttpClients | None = None) -> None:
        super().__init__(clients)
        self._ids: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def run(self, config: dict[str, Any], token: str, logger: BotLogger) -> dict[str, Any]:
        data = file_content(config)
        tag = request_tag(logger)
        auth = {"Authorization": f"Bearer {token}"}
        file_id = self._remembered(tag)
        if file_id is None:  # not tried here: an earlier attempt elsewhere may have made it
            found = await self._find(tag, auth, token, logger)
            if found is not None:
                return self._result(found, deduplicated=True, logger=logger)
            file_id = await self._generate_id(auth, token, logger)
            self._remember(tag, file_id)
        meta = file_metadata(config, file_id, tag)
        body, content_type = multipart_related(
            meta, data, config.get("mime_type", "application/octet-stream")
        )
        try:
            reply = await self.call(
                "POST", "upload/drive/v3/files", content=body,
                params={"uploadType": "multipart", "fields": _FIELDS, "supportsAllDrives": "true"},
                headers={**auth, "Content-Type": content_type}, secrets=[token],
                what="files.create (multipart upload)", logger=logger,
            )  # fmt: skip
        except PermanentError as error:
            if error.code != 409:
                raise
            # The id is taken: by this request's earlier attempt, the only one that had it.
            existing = await self.call(
                "GET", f"drive/v3/files/{file_id}",
                params={"fields": _FIELDS, "supportsAllDrives": "true"},
                headers=auth, secrets=[token], what="files.get", logger=logger,
            )  # fmt: skip
            return self._result(existing.body, deduplicated=True, logger=logger)
        return self._result(reply.body, deduplicated=False, logger=logger)

    async def _generate_id(self, auth: dict[str, str], token: str, logger: BotLogger) -> str:
        reply = await self.call(
            "GET", "drive/v3/files/generateIds",
            params={"count": "1", "space": "drive", "type": "files"},
            headers=auth, secrets=[token], what="files.generateIds", logger=logger,
        )  # fmt: skip
        ids = reply.body.get("ids")
        if not isinstance(ids, list) or not ids or not isinstance(ids[0], str):
            raise TransientError("Google Drive files.generateIds: no id in the answer", code=502)
        if not _ID.fullmatch(ids[0]):
            raise TransientError("Google Drive files.generateIds: not a Drive id", code=502)
        return ids[0]

    async def _find(
        self, tag: str, auth: dict[str, str], token: str, logger: BotLogger
    ) -> dict[str, Any] | None:
        """The file an earlier attempt of this request made, if Drive's search has it."""
        query = f"appProperties has {{ key='{APP_PROPERTY}' and value='{tag}' }} and trashed=false"
        reply = await self.call(
            "GET", "drive/v3/files",
            params={
                "q": query, "fields": f"files({_FIELDS})", "pageSize": "1", "spaces": "drive",
                "supportsAllDrives": "true", "includeItemsFromAllDrives": "true",
            },
            headers=auth, secrets=[token], what="files.list (an earlier attempt's file)",
            logger=logger,
        )  # fmt: skip
        files = reply.body.get("files")
        if isinstance(files, list) and files and isinstance(files[0], dict):
            found: dict[str, Any] = files[0]
            return found
        return None

    def _remembered(self, tag: str) -> str | None:
        entry = self._ids.get(tag)
        if entry is None or time.monotonic() - entry[1] > _REMEMBER_S:
            return None
        return entry[0]

    def _remember(self, tag: str, file_id: str) -> None:
        self._ids[tag] = (file_id, time.monotonic())
        self._ids.move_to_end(tag)
        while len(self._ids) > _REMEMBERED:
            self._ids.popitem(last=False)

    @staticmethod
    def _result(file: dict[str, Any], *, deduplicated: bool, logger: BotLogger) -> dict[str, Any]:
        result: dict[str, Any] = {k: file[k] for k in _RESULT_FIELDS if k in file}
        result["deduplicated"] = deduplicated
        logger.info(
            "google drive file uploaded", file_id=result.get("id"), deduplicated=deduplicated
        )
        return ok(result)
