"""The provider-call seam on its own: Retry-After, the status table, transport errors, scrubbing.

Narrow unit tests over ``httpx.MockTransport``; every service runs against a real fake in
``test_contract.py``.
"""

from __future__ import annotations

import email.utils
import gzip
from typing import Any

import httpx
import pytest

from integrations.bot_logger import BotLogger, SecretSet
from integrations.errors import (
    AuthError,
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.provider import (
    Call,
    ErrorDetail,
    Provider,
    retry_after_s,
    send,
    status_error,
    transport_error,
)

KEY = "sk-0123456789abcdef0123456789abcdef"


def call(*, writes: bool) -> Call:
    return Call("Acme", "POST /things", writes, SecretSet([KEY]))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),
        ({"X-RateLimit-Reset-After": "2.5"}, 2.5),
        ({"RateLimit-Reset": "4"}, 4.0),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_once_from_the_headers_providers_use(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_s(httpx.Headers(headers)) == expected


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_s(httpx.Headers({"Retry-After": date}), now=now) == pytest.approx(30)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert retry_after_s(httpx.Headers({"Retry-After": past}), now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "writes", "expected", "maybe_executed"),
    [
        (401, True, AuthError, False),
        (403, False, AuthError, False),
        (429, True, RateLimitedError, False),
        (408, True, TransientError, False),
        (503, True, TransientError, False),
        (500, True, OutcomeUnknownError, True),
        (502, True, OutcomeUnknownError, True),
        (500, False, TransientError, False),
        (404, True, PermanentError, False),
        (200, True, TransientError, False),  # an "error" with a 2xx: not the provider's answer
    ],
)
def test_status_table(
    status: int, writes: bool, expected: type[IntegrationError], maybe_executed: bool
) -> None:
    error = status_error(call(writes=writes), status, ErrorDetail(code="boom", message="no"))
    assert type(error) is expected
    assert error.maybe_executed is maybe_executed
    assert error.message.startswith("Acme POST /things: HTTP ")


def test_rate_limit_wait_prefers_the_body_then_the_headers() -> None:
    headers = httpx.Headers({"Retry-After": "3"})
    from_body = status_error(
        call(writes=False), 429, ErrorDetail(retry_after_s=0.5), headers=headers
    )
    assert isinstance(from_body, RateLimitedError)
    assert from_body.retry_after_s == 0.5
    from_headers = status_error(call(writes=False), 429, headers=headers)
    assert isinstance(from_headers, RateLimitedError)
    assert from_headers.retry_after_s == 3


@pytest.mark.parametrize(
    ("exc", "writes", "expected", "maybe_executed"),
    [
        (httpx.ConnectError("refused"), True, TransientError, False),
        (httpx.PoolTimeout("pool"), True, TransientError, False),
        (httpx.ConnectTimeout("slow dns"), True, TransientError, False),
        (httpx.ReadTimeout("slow"), True, OutcomeUnknownError, True),
        (httpx.ReadTimeout("slow"), False, TransientError, False),
        (httpx.RemoteProtocolError("cut"), True, OutcomeUnknownError, True),
        (httpx.RemoteProtocolError("cut"), False, TransientError, False),
    ],
)
def test_transport_errors_say_whether_the_request_may_have_left(
    exc: Exception, writes: bool, expected: type[IntegrationError], maybe_executed: bool
) -> None:
    error = transport_error(call(writes=writes), exc)
    assert type(error) is expected
    assert error.maybe_executed is maybe_executed


class Acme(Provider):
    """A provider that says "slow down" with HTTP 200 and ``{"error": {"code": "busy"}}``."""

    name = "Acme"

    def is_error(self, response: httpx.Response, data: Any) -> bool:
        return super().is_error(response, data) or "error" in (data or {})

    def error(
        self, call: Call, response: httpx.Response, detail: ErrorDetail
    ) -> IntegrationError | None:
        if detail.code == "busy":
            return status_error(call, 429, detail, headers=response.headers)
        return None


async def sent(handler: Any, *, logger: BotLogger | None = None, writes: bool = True) -> Any:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://acme.test"
    ) as client:
        return await send(
            client, Acme(), "POST", "/things", writes=writes, secrets=[KEY], logger=logger,
            json={"key": KEY},
        )  # fmt: skip


async def test_a_success_returns_the_parsed_body() -> None:
    reply = await sent(lambda request: httpx.Response(200, json={"id": 5}))
    assert (reply.response.status_code, reply.body, reply.data) == (200, {"id": 5}, {"id": 5})
    garbage = await sent(lambda request: httpx.Response(200, content=b"\xff<html>"))
    assert (garbage.body, garbage.data) == ({}, None)


async def test_a_quirk_of_the_provider_decides_before_the_status() -> None:
    answer = httpx.Response(200, json={"error": {"code": "busy"}}, headers={"Retry-After": "2"})
    with pytest.raises(RateLimitedError) as caught:
        await sent(lambda request: answer)
    assert caught.value.retry_after_s == 2


async def test_secrets_are_scrubbed_and_the_failure_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = BotLogger("tests.provider", bot_id="b", integration_id="acme_thing")
    logger.add_secret("logger-only-secret-123")
    echo = {"error": {"message": f"bad key {KEY} and logger-only-secret-123"}}
    with pytest.raises(AuthError) as caught:
        await sent(lambda request: httpx.Response(401, json=echo), logger=logger)
    assert KEY not in caught.value.message
    assert "logger-only-secret-123" not in caught.value.message
    assert caught.value.message.startswith("Acme POST /things: HTTP 401: bad key ***")
    failures = [r for r in caplog.records if "request failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].getMessage().startswith(f"Acme request failed: {caught.value.message}")


async def test_a_refused_connection_is_not_executed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TransientError) as caught:
        await sent(refuse)
    assert caught.value.maybe_executed is False
    assert "nothing was sent" in caught.value.message


@pytest.mark.parametrize(
    ("given", "kept"),
    [(1e300, 86_400.0), (float("inf"), 86_400.0), (float("nan"), None), (-3, None)],
)
def test_a_wait_no_later_step_could_hold_is_cut_or_dropped(
    given: float, kept: float | None
) -> None:
    assert RateLimitedError("slow down", retry_after_s=given).retry_after_s == kept


async def test_an_answer_past_the_cap_is_refused_without_holding_it() -> None:
    async def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5_000)

    bomb = gzip.compress(b"{" * 50_000)  # small on the wire, large once decoded

    async with httpx.AsyncClient(transport=httpx.MockTransport(huge)) as client:
        with pytest.raises(PermanentError, match="over 4096 bytes"):
            await send(client, Acme(), "GET", "http://acme.test/x", writes=False, max_bytes=4096)
        with pytest.raises(OutcomeUnknownError, match="over 4096 bytes"):
            await send(client, Acme(), "POST", "http://acme.test/x", writes=True, max_bytes=4096)

    def gzipped(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(gzipped)) as client:
        with pytest.raises(PermanentError, match="over 4096 bytes"):
            await send(client, Acme(), "GET", "http://acme.test/x", writes=False, max_bytes=4096)
        small = gzip.compress(b'{"ok": 1}')
        client._transport = httpx.MockTransport(
            lambda request: httpx.Response(200, content=small, headers={"Content-Encoding": "gzip"})
        )
        reply = await send(client, Acme(), "GET", "http://acme.test/x", writes=False)
        assert reply.body == {"ok": 1}
