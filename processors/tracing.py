"""W3C trace context: what the worker does with a request's ``traceparent`` header.

The header travels, unchanged, to the request's result, dead letter and retries (Kafka headers,
:data:`processors.outputs.PROPAGATED_HEADERS`) and to every HTTP call the integration makes while
executing it (``HttpClients`` and the Telegram pool add it from
:func:`~integrations.context.request_context`). Log lines of the request carry its ``trace_id``.

Only a well-formed ``traceparent`` is sent to providers: a malformed one (it comes from whoever
published the request) is ignored rather than put into outgoing HTTP headers.

The worker opens no spans of its own: OpenTelemetry is not a dependency, and the context is
passed through as it came.
"""

from __future__ import annotations

import re

# version "-" trace-id "-" parent-id "-" flags; version ff and all-zero ids are invalid.
_TRACEPARENT_RE = re.compile(
    r"^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)


def parse_traceparent(raw: bytes | str | None) -> str | None:
    """The header's value when it is a valid W3C ``traceparent``, else ``None``."""
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    text = text.strip()
    match = _TRACEPARENT_RE.match(text)
    if match is None:
        return None
    # Version 00 is exactly 55 characters; later versions may append fields after a dash.
    if text[:2] == "00" and len(text) != 55:
        return None
    if len(text) > 55 and text[55] != "-":
        return None
    return text


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a (valid) ``traceparent``."""
    return traceparent[3:35] if traceparent else None
