"""Credentials from environment variables, for local runs and small single-bot deployments."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from integrations.credentials.errors import CredentialsSourceBrokenError
from integrations.credentials.sources.base import json_object

# Ids for which upper-casing and "-" → "_" is one-to-one.
_UNAMBIGUOUS = re.compile(r"[a-z0-9][a-z0-9-]*")


class EnvCredentialsSource:
    """One environment variable per (bot, provider, strategy), holding a JSON object::

        ACTIONSTREAM_CRED__<BOT_ID>__<PROVIDER>__<STRATEGY>='{"token": "123:ABC"}'

    Each part is upper-cased with ``-`` and ``.`` turned into ``_`` (shells only export names of
    ``[A-Z0-9_]``), so bot ``6f1c…-9a2e`` with provider ``telegram`` and strategy ``api_key`` is
    ``ACTIONSTREAM_CRED__6F1C…_9A2E__TELEGRAM__API_KEY``. An unset variable means "no credentials".
    The variables are read at every fetch, so tests and reloads see changes.

    That mapping would give ``my-bot``, ``MY_BOT`` and ``my.bot`` one variable, so one bot could
    read another's credentials: this source takes bot ids of lower-case letters, digits and
    ``-`` only (UUIDs are), for which it is one-to-one, and refuses the others.
    """

    PREFIX = "ACTIONSTREAM_CRED__"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ

    @classmethod
    def variable_name(cls, bot_id: str, provider: str, strategy: str) -> str:
        """The variable that holds these credentials (``bot_id`` in canonical form)."""
        parts = (bot_id, provider, strategy)
        return cls.PREFIX + "__".join(p.upper().replace("-", "_").replace(".", "_") for p in parts)

    async def fetch(self, bot_id: str, provider: str, strategy: str) -> dict[str, Any] | None:
        if _UNAMBIGUOUS.fullmatch(bot_id) is None:
            raise CredentialsSourceBrokenError(
                f"the env credentials source cannot tell bot {bot_id[:64]!r} apart from other ids "
                "that map to the same variable; it takes bot ids of lower-case letters, digits "
                "and '-' only (a UUID): use the file or http source for other ids"
            )
        name = self.variable_name(bot_id, provider, strategy)
        raw = self._environ.get(name)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            # json's message quotes nothing of the document, but keep it out regardless.
            raise CredentialsSourceBrokenError(
                f"environment variable {name} is not valid JSON; it must hold a JSON object "
                """such as '{"token": "..."}'"""
            ) from None
        return json_object(value, where=f"environment variable {name}")

    async def aclose(self) -> None:
        return None
