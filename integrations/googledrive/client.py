"""What Google Drive actions share: the OAuth token, the two API paths, and how Drive answers.

**Why httpx, not the official SDK.** ``google-api-python-client`` (2.x) is synchronous
(``httplib2``), builds its client from a discovery document, and owns its own connection per
``Http`` object; a multipart upload is one POST over the shared ``httpx.AsyncClient``.

**The wire** (verified, see below): both APIs live under ``https://www.googleapis.com``: the
upload at ``POST /upload/drive/v3/files?uploadType=multipart`` (a ``multipart/related`` body: the
JSON metadata part, then the media part; for files up to 5 MB), and ``GET
/drive/v3/files/generateIds`` (``count``, ``space=drive``, ``type=files`` → ``{"ids": [...],
"space", "kind": "drive#generatedIds"}``), ``GET /drive/v3/files`` (search) and ``GET
/drive/v3/files/{id}`` beside it. The bearer token needs the ``drive.file`` scope (files the app
created or was given). Errors are Google's (:class:`~integrations.google.GoogleApi`); Drive's own
reasons: ``storageQuotaExceeded``, ``insufficientFilePermissions``, ``appNotAuthorizedToFile``
(403, permanent) and a 409 for an ``id`` already taken, which the upload turns into its success
(``upload_file.py``).

**Verified** (search tool, 2026-12): developers.google.com/drive/api/guides/create-file ("Once an
ID is generated, it can be passed to the create or copy method through the id field … If the
file is successfully created or copied, subsequent retries return a 409 Conflict … and duplicate
files aren't created"); developers.google.com/drive/api/reference/rest/v3/files/generateIds (the
URL, ``count`` 1-1000, ``space``, ``type``, the answer, ``drive.file`` among its scopes); the
limits page (12,000 queries per 60 s per project and per user in its query table; a quota is
``403 User rate limit exceeded`` or ``429``, back off). **Not in Google's documentation**, from
public fakes that record what live Drive answered: an ``id`` not made by ``generateIds`` is
refused (``400 "The provided file ID is not usable."``), and generated ids are refused for Docs
Editors formats (``application/vnd.google-apps.*``), which the config therefore refuses.
"""

from __future__ import annotations

from typing import ClassVar

from integrations.base import Category, CredentialsStrategy
from integrations.google import GoogleApi, access_token
from integrations.service import Service

__all__ = ["ACCESS_TOKEN", "DEFAULT_BASE_URL", "GOOGLE_DRIVE", "SCOPE", "GoogleDrive"]

GOOGLE_DRIVE = Service(
    "googledrive", Category.STORAGE, "#1FA463", strategy=CredentialsStrategy.OAUTH
)

DEFAULT_BASE_URL = "https://www.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/drive.file"

ACCESS_TOKEN = access_token(GOOGLE_DRIVE.name)
"""The bot's OAuth access token, in its ``googledrive`` credentials (strategy ``oauth``)."""


class GoogleDrive(GoogleApi):
    """Drive's answers: Google's errors; a scope error names ``drive.file``."""

    name = "Google Drive"
    scope: ClassVar[str] = SCOPE
