"""A python-telegram-bot request backend on aiohttp.

PTB's default, ``HTTPXRequest``, goes through httpcore's connection pool, which re-checks every
pooled connection (``has_expired`` → a socket probe) for every request it assigns. With the
hundreds of concurrent sends a worker makes, that scan dominated the profile: about 60 % of a
worker's CPU went to it, capping Telegram throughput at a few hundred messages per second.
aiohttp (already a dependency, through Faust) keeps idle connections in a per-host deque and
hands one out in O(1).

PTB supports this officially: ``BaseRequest`` is its extension point for HTTP backends.
Errors follow PTB's conventions (``TimedOut``, ``NetworkError``) with the aiohttp exception as
``__cause__``, which ``client.map_telegram_error`` reads to tell "never sent" from "maybe sent".
PTB's exceptions keep neither the HTTP status nor the headers of an error answer; inside
:func:`watching` the backend records them in an :class:`Answer` for the mapping to read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

from integrations import spans
from integrations.context import SendGateLike, send_gate

TraceparentGetter = Callable[[], str | None]

_FORM = "application/x-www-form-urlencoded"

# Failures that happen before a request could reach Telegram.
NOT_SENT = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


class AnswerTooLarge(Exception):
    """Telegram's answer passed the backend's ``max_answer_bytes``; it was not read on."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the answer is over {max_bytes} bytes; it was not read")
        self.max_bytes = max_bytes


@dataclass(slots=True)
class Answer:
    """What Telegram last answered inside :func:`watching`: the status, and for an error the
    headers and body (PTB's exceptions keep only the description)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    result: Any = None
    """The Bot API's ``result`` of the last call that succeeded, as Telegram sent it: an
    integration answers with it rather than re-serialising PTB's object (``to_dict`` cost
    about 7 % of a worker's CPU per message)."""
    raw_only: bool = False
    """The block reads :attr:`result` and nothing else: a successful answer whose ``result``
    is an object reaches PTB as ``true``, so it builds no ``Message`` from it (``de_json``
    cost about 12 % of a worker's CPU per message). Errors reach PTB unchanged."""


_SENT: dict[str, Any] = {"ok": True, "result": True}  # what PTB returns as is, unparsed
_answer: ContextVar[Answer | None] = ContextVar("telegram_answer", default=None)


@contextmanager
def watching() -> Iterator[Answer]:
    """Record the answers to the requests sent in this block (in this task) in an Answer."""
    answer = Answer()
    token = _answer.set(answer)
    try:
        yield answer
    finally:
        _answer.reset(token)


class AiohttpRequest(BaseRequest):
    """One pooled aiohttp session shared by every ``Bot`` of a :class:`TelegramClientPool`."""

    def __init__(
        self,
        *,
        connection_pool_size: int,
        connect_timeout: float,
        read_timeout: float,
        write_timeout: float,
        media_write_timeout: float,
        pool_timeout: float,
        max_answer_bytes: int = 1024 * 1024,
        traceparent: TraceparentGetter | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._media_write_timeout = media_write_timeout
        self._pool_timeout = pool_timeout
        self._max_answer_bytes = max_answer_bytes
        self._traceparent = traceparent
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @property
    def settings(self) -> dict[str, float | int]:
        """The pool size and timeouts in force (for inspection and tests)."""
        return {
            "connection_pool_size": self._pool_size,
            "connect_timeout": self._connect_timeout,
            "read_timeout": self._read_timeout,
            "write_timeout": self._write_timeout,
            "media_write_timeout": self._media_write_timeout,
            "pool_timeout": self._pool_timeout,
        }

    async def initialize(self) -> None:
        self._closed = False
        self._ensure_session()

    async def shutdown(self) -> None:
        self._closed = True
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            # As PTB's own backends do after shutdown(); PTB reports it as a NetworkError.
            raise RuntimeError("This AiohttpRequest is not initialized (it was shut down)")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=self._pool_size, keepalive_timeout=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )
        return self._session

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """PTB's parsing (its documented hook), keeping the answer's ``result`` as sent."""
        data: dict[str, Any] = BaseRequest.parse_json_payload(payload)
        if (answer := _answer.get()) is not None and isinstance(data, dict):
            result = answer.result = data.get("result")  # PTB's de_json copies what it reads
            if answer.raw_only and data.get("ok") is True and isinstance(result, dict):
                return _SENT
        return data

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._ensure_session()
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else {}
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write timeout of its own: sending the body counts against the total;
        # getting a connection (waiting for the pool, then connecting) has its own budget.
        timeout = aiohttp.ClientTimeout(
            total=_sum(connect, pool, read, write),
            connect=_sum(connect, pool),
            sock_connect=connect,
            sock_read=read,
        )
        body: Any = _form(fields, files) if files else fields
        if (gate := send_gate()) is not None:
            # The claim, as the request is written to the connection it already holds
            # (processors.send_gate): not while it waits for one.
            if files:
                body = _GatedPayload(body(), gate)
            else:
                raw = urlencode(list(fields.items()), doseq=True).encode()
                form = aiohttp.payload.BytesPayload(raw, content_type=_FORM)
                body = _GatedPayload(form, gate, raw=raw)
        # A CLIENT span when spans are made: method and host only (the path holds the token).
        with _client_span(method, url) as current:
            headers = None
            value = spans.own_traceparent() or (self._traceparent and self._traceparent())
            if value:
                headers = {"traceparent": value}
            try:
                async with session.request(
                    method, url, data=body, headers=headers, timeout=timeout
                ) as response:
                    spans.set_attributes(current, **{"http.response.status_code": response.status})
                    payload = await _read_capped(response, self._max_answer_bytes)
                    if (answer := _answer.get()) is not None:
                        answer.status = response.status
                        if not 200 <= response.status < 300:
                            answer.headers, answer.body = dict(response.headers), payload
                    return response.status, payload
            except (TimeoutError, aiohttp.ServerTimeoutError) as err:
                raise TimedOut from err
            except aiohttp.ClientError as err:
                raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


def _client_span(method: str, url: str) -> AbstractContextManager[Any]:
    """The CLIENT span of one request (its URL parsed only when spans are made)."""
    if not spans.enabled():
        return spans.NO_SPAN
    attributes = {"http.request.method": method, "server.address": URL(url).host or ""}
    return spans.span(f"HTTP {method}", kind="client", attributes=attributes)


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The answer's body, or :class:`AnswerTooLarge` as soon as it passes ``max_bytes``."""
    length = response.content_length
    if length is not None:
        if length > max_bytes:
            raise AnswerTooLarge(max_bytes)
        return await response.read()  # in one piece: the usual answer, announced and small
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


class _GatedPayload(aiohttp.payload.Payload):
    """A request body that passes the send gate as it is written (see ``send_gate``).

    aiohttp buffers the headers and writes them with the body, in a task of its own, once a
    connection is held: a refusal here means no byte of the request leaves. (aiohttp wraps the
    refusal in a ``ClientConnectionError`` and closes that connection; the processor reads the
    refusal from the gate itself.)

    A body given whole (``raw``: a form without files) is written by the gate itself, in the
    same step as the claim's reply is read (:class:`_WriteNow`), rather than once this task
    resumes: under load that wait is a turn of the event loop, during which a worker killed
    would leave an "unknown" outcome for a request that never left.
    """

    def __init__(
        self, inner: aiohttp.payload.Payload, gate: SendGateLike, *, raw: bytes | None = None
    ) -> None:
        super().__init__(inner, headers=inner.headers)
        self._inner = inner
        self._gate = gate
        self._raw = raw

    @property
    def size(self) -> int | None:
        return self._inner.size

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._inner.decode(encoding, errors)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        if self._raw is None:
            await self._gate()
            await self._inner.write_with_length(writer, content_length)
            return
        data = self._raw if content_length is None else self._raw[:content_length]
        now = _WriteNow(writer, data)
        if not await self._gate(now) or not now.done:
            if now.error is not None:
                raise now.error
            await writer.write(data)

    async def close(self) -> None:
        await self._inner.close()


class _WriteNow:
    """Writes a body in one synchronous step: headers and body to the transport, now.

    ``StreamWriter.write(drain=False)`` only waits for trace hooks and compression, which this
    backend's session does not use; should it wait all the same, it has written nothing yet, and
    the body is left to the caller (``done`` stays False). Never raises: a failed write is kept
    in ``error`` for the task that owns the request.
    """

    def __init__(self, writer: Any, data: bytes) -> None:
        self._writer = writer
        self._data = data
        self.done = False
        self.error: Exception | None = None

    def __call__(self) -> None:
        step = self._writer.write(self._data, drain=False)
        try:
            step.send(None)
        except StopIteration:
            self.done = True
        except Exception as exc:
            self.error = exc
        else:
            step.close()


def _given(value: Any, default: float) -> float | None:
    if isinstance(value, BaseRequest.DEFAULT_NONE.__class__):
        return default
    return value  # type: ignore[no-any-return]


def _sum(*parts: float | None) -> float | None:
    """None (no limit) when any part has no limit."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _form(fields: dict[str, str], files: dict[str, Any]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
