"""Decoding what a worker consumes: a record's bytes into an :class:`IntegrationRequest`.

A record that is not a request (garbage, a tombstone, an unknown schema id) goes to the dead
letter topic with category ``undecodable`` and is done; an unreachable Schema Registry is not the
record's fault, so decoding waits for it rather than dead-letter a good request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from processors.metrics import NO_METRICS, Metrics
from processors.records import InboundRecord
from schemas import (
    AvroCodec,
    ErrorRecord,
    IntegrationRequest,
    SchemaDecodeError,
    SchemaRegistryError,
    bot_id_problem,
)

log = logging.getLogger("actionstream.inputs")

DeadLetter = Callable[[InboundRecord, ErrorRecord], Awaitable[object]]


class RequestDecoder:
    """Decodes request records; dead-letters (through ``dead_letter``) those that are not."""

    def __init__(
        self, codec: AvroCodec, dead_letter: DeadLetter, *, metrics: Metrics = NO_METRICS
    ) -> None:
        self._codec = codec
        self._dead_letter = dead_letter
        self._metrics = metrics

    async def decode(self, record: InboundRecord) -> IntegrationRequest | None:
        """The request, or ``None`` after dead-lettering a record that is not one."""
        backoff_s = 0.5
        while True:
            try:
                if record.value is None:
                    raise SchemaDecodeError("record has no value (a tombstone)", raw=b"")
                request = await self._codec.decode_async(IntegrationRequest, record.value)
                problem = bot_id_problem(request.bot_id)
                if problem is not None:
                    raise SchemaDecodeError(f"{problem}; nothing was run", raw=record.value)
                return request
            except SchemaRegistryError as exc:
                if not exc.retryable:
                    await self._undecodable(record, exc)
                    return None
                log.warning("schema registry unavailable, retrying in %.1fs: %s", backoff_s, exc)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 10.0)
            except SchemaDecodeError as exc:
                await self._undecodable(record, exc)
                return None

    async def _undecodable(self, record: InboundRecord, exc: Exception) -> None:
        bot_id = record.key.decode("utf-8", "replace") if record.key else None
        log.warning(
            "undecodable record %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc,
            extra={"bot_id": bot_id},
        )  # fmt: skip
        error = ErrorRecord(category="undecodable", message=str(exc), code=400)
        self._metrics.not_executed(None, error.category)
        await self._dead_letter(record, error)
