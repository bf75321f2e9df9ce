"""``dropbox_upload_file``: upload up to 10 MB to a path in the bot owner's Dropbox."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from integrations.base import SideEffect, UnknownOutcomePolicy
from integrations.bot_logger import BotLogger
from integrations.dropbox.client import DROPBOX, DropboxIntegration, content_hash
from integrations.errors import InvalidConfigError
from integrations.outcome import ok

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # ours; Dropbox takes 150 MB per call (sessions above)
_MAX_BASE64_CHARS = math.ceil(MAX_UPLOAD_BYTES / 3) * 4

_MODE_NEEDS_REV: dict[str, Any] = {
    "if": {"properties": {"mode": {"const": "update"}}, "required": ["mode"]},
    "then": {"required": ["rev"]},
    "else": {"not": {"required": ["rev"]}},
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {
            "description": "Where to save the file: '/folder/name.ext', 'id:…' or 'ns:<id>/…'",
            "type": "string",
            "maxLength": 1024,
            "pattern": "^(/.*[^/]|id:.+|ns:[0-9]+/.*[^/])$",
        },
        "content_base64": {
            "description": "The file's bytes, base64-encoded (≤10 MB decoded)",
            "type": "string",
            "maxLength": _MAX_BASE64_CHARS,
            "contentEncoding": "base64",
        },
        "content_text": {
            "description": "The file's content as text, stored UTF-8-encoded (≤10 MB)",
            "type": "string",
            "maxLength": MAX_UPLOAD_BYTES,
        },
        "mode": {
            "description": "If the path holds a different file: add (keep it), overwrite, or "
            "update (overwrite only if it is still revision 'rev')",
            "enum": ["add", "overwrite", "update"],
            "default": "add",
        },
        "rev": {"type": "string", "pattern": "^[0-9a-f]{9,}$"},
        "autorename": {
            "description": "On a conflict, save as 'name (1).ext' instead of failing",
            "type": "boolean",
            "default": False,
        },
        "mute": {"description": "Do not notify the user's devices", "type": "boolean"},
    },
    "required": ["path"],
    "oneOf": [{"required": ["content_base64"]}, {"required": ["content_text"]}],
    "allOf": [_MODE_NEEDS_REV],
    "additionalProperties": False,
}

METADATA = DROPBOX.action(
    "upload_file",
    name="Dropbox Upload File",
    description="Upload a file (up to 10 MB, base64 or text) to a path in a Dropbox account.",
    config_schema=CONFIG_SCHEMA,
    # Idempotent in every mode: Dropbox's WriteMode rules say that when the path already holds a
    # file with identical contents "nothing gets written; no conflict" (we never send
    # strict_conflict), so a repeat of the same upload returns the file the first one wrote:
    # no second copy even with autorename, no extra revision with overwrite. No key needed.
    side_effect=SideEffect.IDEMPOTENT,
    timeout_s=75.0,  # above the 60 s HTTP timeout
    on_unknown_outcome=UnknownOutcomePolicy.REEXECUTE,
    # Dropbox publishes no numbers (per-user limits, answered with 429 + Retry-After).
    rate_limits=(),
)


def file_bytes(config: dict[str, Any]) -> bytes:
    """The bytes to upload from an already schema-valid ``config`` (≤ ``MAX_UPLOAD_BYTES``)."""
    if "content_base64" in config:
        try:
            data = base64.b64decode(config["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidConfigError(
                "$.content_base64: not valid base64; encode the file's bytes (RFC 4648)"
            ) from None
        field = "$.content_base64"
    else:
        data = config["content_text"].encode("utf-8")
        field = "$.content_text"
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidConfigError(
            f"{field}: the file is {len(data)} bytes, over the {MAX_UPLOAD_BYTES}-byte limit of "
            "this action; upload a smaller file"
        )
    return data


def upload_arg(config: dict[str, Any], data: bytes) -> dict[str, Any]:
    """``Dropbox-API-Arg`` for ``/files/upload``; ``content_hash`` lets Dropbox check the bytes."""
    mode = config.get("mode", "add")
    return {
        "path": config["path"],
        "mode": {".tag": "update", "update": config["rev"]} if mode == "update" else mode,
        "autorename": config.get("autorename", False),
        "mute": config.get("mute", False),
        "strict_conflict": False,  # what makes a repeated upload idempotent (see METADATA)
        "content_hash": content_hash(data),
    }


_RESULT_FIELDS = (
    "id",
    "name",
    "path_display",
    "path_lower",
    "rev",
    "size",
    "content_hash",
    "client_modified",
    "server_modified",
)


class DropboxUploadFileIntegration(DropboxIntegration):
    """Upload a file with ``POST /2/files/upload`` (httpx, OAuth bearer token).

    Config: ``path`` ("/folder/name.ext"), the content as ``content_base64`` or
    ``content_text`` (one of them, ≤10 MB), ``mode`` (add, the default; overwrite; or update
    with ``rev``), ``autorename`` and ``mute``. Credentials: ``{"access_token": ...}``.
    Returns the file's metadata (``id``, ``name``, ``path_display``, ``rev``, ``size``,
    ``content_hash``, ...) and ``renamed``, true when Dropbox saved it under another name.
    """

    metadata = METADATA

    async def run(self, config: dict[str, Any], key: str, logger: BotLogger) -> dict[str, Any]:
        data = file_bytes(config)
        metadata = await self.upload("files/upload", upload_arg(config, data), data, key, logger)
        result = {name: metadata[name] for name in _RESULT_FIELDS if name in metadata}
        requested = config["path"].lower()
        result["renamed"] = requested.startswith("/") and metadata.get("path_lower") != requested
        logger.info(
            "dropbox file uploaded", path=result.get("path_display"), size=result.get("size")
        )
        return ok(result)
