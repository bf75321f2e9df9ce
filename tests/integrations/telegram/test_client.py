"""The shared client: the Bot pool and the PTB-exception -> typed-error mapping."""

from __future__ import annotations

import datetime as dtm
import traceback
import warnings
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from telegram import error

from integrations import errors
from integrations.outcome import classify
from integrations.telegram.aiohttp_request import Answer, AnswerTooLarge
from integrations.telegram.client import TelegramClientPool, map_telegram_error, telegram_errors
from integrations.telegram.testing import FakeTelegram
from processors.settings import TelegramSettings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def _settings(fake: FakeTelegram, **overrides: object) -> TelegramSettings:
    return TelegramSettings(base_url=fake.base_url, base_file_url=fake.base_file_url, **overrides)


# -- the pool --------------------------------------------------------------------------------------


async def test_one_bot_per_token_sharing_one_request(fake: FakeTelegram) -> None:
    async with TelegramClientPool(_settings(fake)) as pool:
        first = pool.bot("1:a")
        assert pool.bot("1:a") is first
        second = pool.bot("2:b")
        assert second is not first
        assert pool.created == 2
        assert len(pool) == 2
        for bot in (first, second):
            # The same request object for sending and for getUpdates: no per-Bot httpx clients.
            assert bot.request is pool.request
            assert bot._request[0] is pool.request  # the getUpdates slot
            assert bot.base_url == f"{fake.base_url}{bot.token}"
        await first.send_message(1, "x")
        await second.send_message(1, "y")
        assert [m.token for m in fake.messages()] == ["1:a", "2:b"]
        assert not [c for c in fake.calls if c.method == "getMe"]  # never initialize()d


async def test_cache_is_lru_bounded_and_evictions_keep_the_shared_client(
    fake: FakeTelegram,
) -> None:
    async with TelegramClientPool(_settings(fake, max_cached_bots=3)) as pool:
        a = pool.bot("1:a")
        pool.bot("2:b")
        pool.bot("3:c")
        assert pool.bot("1:a") is a  # touch: now 2:b is the least recently used
        pool.bot("4:d")
        assert len(pool) == 3
        assert pool.bot("1:a") is a
        assert pool.created == 4
        rebuilt = pool.bot("2:b")  # evicted, so rebuilt
        assert pool.created == 5
        assert len(pool) == 3
        # Evicting never shut the shared client down: every Bot still sends.
        await rebuilt.send_message(1, "after eviction")
        await a.send_message(1, "still fine")
        assert len(fake.messages()) == 2


async def test_aclose_closes_the_shared_request_once(fake: FakeTelegram) -> None:
    pool = TelegramClientPool(_settings(fake))
    bot = pool.bot("1:a")
    await pool.aclose()
    with pytest.raises(error.NetworkError):
        await bot.send_message(1, "x")
    with pytest.raises(RuntimeError, match="closed"):
        pool.bot("1:a")


async def test_settings_reach_the_http_client(fake: FakeTelegram) -> None:
    settings = _settings(fake, connection_pool_size=7, read_timeout_s=1.5, pool_timeout_s=0.5)
    async with TelegramClientPool(settings) as pool:
        assert pool.request.read_timeout == 1.5
        assert pool.request.settings["pool_timeout"] == 0.5
        assert pool.request.settings["connection_pool_size"] == 7


async def test_traceparent_is_propagated(fake: FakeTelegram) -> None:
    current: list[str | None] = ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
    async with TelegramClientPool(_settings(fake), traceparent=lambda: current[0]) as pool:
        await pool.bot("1:a").send_message(1, "traced")
        current[0] = None
        await pool.bot("1:a").send_message(1, "untraced")
    assert [c.traceparent for c in fake.calls] == [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        None,
    ]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_answer_over_the_cap_is_not_read_and_fails_the_send(
    fake: FakeTelegram, declared: bool
) -> None:
    """A huge answer (declared up front, or streamed) stops the read at the cap: memory stays
    bounded, and a send that was answered is "maybe delivered", never retried blindly."""
    huge = b'{"ok": true, "result": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    if declared:
        fake.fail_next(200, body=huge, headers={"Content-Type": "application/json"})
        url = fake.base_url
    else:
        app = web.Application()

        async def stream(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(huge), 64 * 1024):
                await response.write(huge[start : start + 64 * 1024])
            return response

        app.router.add_route("*", "/bot{token}/{method}", stream)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot"
    try:
        settings = TelegramSettings(base_url=url, max_answer_bytes=1024 * 1024)
        async with TelegramClientPool(settings) as pool:
            with (
                pytest.raises(errors.OutcomeUnknownError, match="over 1048576 bytes") as caught,
                telegram_errors("sendMessage", TOKEN),
            ):
                await pool.bot(TOKEN).send_message(1, "x")
    finally:
        if not declared:
            await runner.cleanup()
    assert classify(caught.value).maybe_executed
    with pytest.raises(errors.PermanentError, match="over 1048576 bytes"):
        raise map_telegram_error(
            _caused(error.NetworkError("x"), AnswerTooLarge(1024 * 1024)),
            method="getChat",
            writes=False,
        )


# -- error mapping (unit: PTB exceptions built directly) -------------------------------------------


def _caused(exc: error.TelegramError, cause: BaseException) -> error.TelegramError:
    exc.__cause__ = cause
    return exc


def test_retry_after_int_or_timedelta_without_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    as_int = error.RetryAfter(7)  # PTB itself warns here unless PTB_TIMEDELTA is set
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    as_timedelta = error.RetryAfter(dtm.timedelta(seconds=2.5))
    monkeypatch.delenv("PTB_TIMEDELTA")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our mapping must not trigger PTB's deprecation path
        mapped = [map_telegram_error(e, method="sendMessage") for e in (as_int, as_timedelta)]
    assert [type(m) for m in mapped] == [errors.RateLimitedError, errors.RateLimitedError]
    assert [m.retry_after_s for m in mapped] == [7.0, 2.5]  # type: ignore[attr-defined]
    assert mapped[0].parameters == {"retry_after": 7}
    outcome = classify(mapped[0])
    assert outcome.category is errors.OutcomeCategory.RATE_LIMITED
    assert outcome.retry_after_s == 7.0


@pytest.mark.parametrize(
    ("exc", "expected_type", "code", "retryable"),
    [
        (error.ChatMigrated(-1001234567890), errors.PermanentError, 400, False),
        (
            error.Forbidden("Forbidden: bot was blocked by the user"),
            errors.PermanentError,
            403,
            False,
        ),
        (
            error.InvalidToken(f"The token `{TOKEN}` was rejected by the server."),
            errors.AuthError,
            401,
            False,
        ),
        (error.BadRequest("Chat not found"), errors.PermanentError, 400, False),
        (
            error.Conflict("Conflict: terminated by other getUpdates request"),
            errors.PermanentError,
            409,
            False,
        ),
        # Some other status, PTB does not say which (no Answer recorded): maybe delivered.
        (error.NetworkError("Bad Gateway"), errors.OutcomeUnknownError, 502, True),
        (error.EndPointNotFound("no such endpoint"), errors.PermanentError, 400, False),
        (error.TelegramError("something new"), errors.PermanentError, 400, False),
    ],
)
def test_mapping_table(
    exc: error.TelegramError,
    expected_type: type[errors.IntegrationError],
    code: int,
    retryable: bool,
) -> None:
    mapped = map_telegram_error(exc, method="sendMessage", token=TOKEN)
    assert type(mapped) is expected_type
    assert (mapped.code, mapped.retryable) == (code, retryable)
    assert "Telegram sendMessage" in mapped.message


def test_chat_migrated_carries_the_new_chat_id() -> None:
    mapped = map_telegram_error(error.ChatMigrated(-1001234567890), method="sendMessage")
    assert mapped.parameters == {"migrate_to_chat_id": -1001234567890}
    assert "-1001234567890" in mapped.message
    response = classify(mapped).response
    assert response["parameters"] == {"migrate_to_chat_id": -1001234567890}
    assert response["error_code"] == 400


@pytest.mark.parametrize(
    ("cause", "maybe_executed", "code"),
    [
        (httpx.ReadTimeout("read"), True, 504),
        (httpx.WriteTimeout("write"), True, 504),
        (httpx.PoolTimeout("pool"), False, 503),  # never left the process
        (httpx.ConnectTimeout("connect"), False, 503),
    ],
)
def test_timeouts_say_whether_the_message_may_have_been_sent(
    cause: BaseException, maybe_executed: bool, code: int
) -> None:
    mapped = map_telegram_error(_caused(error.TimedOut(), cause), method="sendMessage")
    assert isinstance(mapped, errors.TransientError)
    assert mapped.retryable
    assert isinstance(mapped, errors.OutcomeUnknownError) is maybe_executed
    assert mapped.code == code
    outcome = classify(mapped)
    assert outcome.category is errors.OutcomeCategory.TRANSIENT
    assert outcome.maybe_executed is maybe_executed


@pytest.mark.parametrize(
    ("cause", "maybe_executed", "code"),
    [
        (None, True, 502),  # an answer of unknown status (no Answer recorded): maybe sent
        (httpx.ConnectError("refused"), False, 503),
        (httpx.RemoteProtocolError("Server disconnected"), True, 502),  # dropped after sending
        (httpx.ReadError("reset"), True, 502),
    ],
)
def test_network_errors(cause: BaseException | None, maybe_executed: bool, code: int) -> None:
    exc = error.NetworkError("boom")
    if cause is not None:
        exc.__cause__ = cause
    mapped = map_telegram_error(exc, method="sendMessage")
    assert isinstance(mapped, errors.TransientError)
    assert mapped.retryable
    assert isinstance(mapped, errors.OutcomeUnknownError) is maybe_executed
    assert mapped.code == code
    outcome = classify(mapped)
    assert outcome.category is errors.OutcomeCategory.TRANSIENT
    assert outcome.maybe_executed is maybe_executed


ENVELOPE_500 = b'{"ok": false, "error_code": 500, "description": "Internal Server Error"}'


@pytest.mark.parametrize(
    ("exc", "answer", "expected_type", "code", "maybe_executed"),
    [
        # Telegram's own envelope says the method failed; a gateway's page says nothing.
        (error.NetworkError("x"), Answer(500, {}, ENVELOPE_500), errors.TransientError, 500, False),
        (
            error.NetworkError("x"),
            Answer(502, {}, b"<html>"),
            errors.OutcomeUnknownError,
            502,
            True,
        ),
        (error.NetworkError("x"), Answer(503, {}, b""), errors.TransientError, 503, False),
        (error.NetworkError("x"), Answer(413, {}, b"{}"), errors.PermanentError, 413, False),
        # A 2xx PTB could not parse is not Telegram's answer (a captive portal?).
        (
            error.TelegramError("Invalid server response"),
            Answer(200),
            errors.TransientError,
            502,
            False,
        ),
        (error.InvalidToken("Not Found"), Answer(404), errors.AuthError, 401, False),
    ],
)
def test_the_recorded_answer_gives_the_status(
    exc: error.TelegramError,
    answer: Answer,
    expected_type: type[errors.IntegrationError],
    code: int,
    maybe_executed: bool,
) -> None:
    mapped = map_telegram_error(exc, method="sendMessage", answer=answer)
    assert type(mapped) is expected_type
    assert mapped.code == code
    assert classify(mapped).maybe_executed is maybe_executed


def test_a_bare_429_waits_for_its_retry_after_header() -> None:
    answer = Answer(429, {"Retry-After": "4"}, b'{"ok": false, "error_code": 429}')
    mapped = map_telegram_error(error.NetworkError("x"), method="sendMessage", answer=answer)
    assert isinstance(mapped, errors.RateLimitedError)
    assert mapped.retry_after_s == 4


def test_a_lost_connection_of_a_read_is_not_an_unknown_outcome() -> None:
    lost = _caused(error.NetworkError("x"), httpx.ReadError("reset"))
    mapped = map_telegram_error(lost, method="getMe", writes=False)
    assert type(mapped) is errors.TransientError
    assert mapped.code == 502


def test_no_mapped_message_contains_the_token() -> None:
    leaky = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed with {TOKEN}"
    exceptions: list[error.TelegramError] = [
        error.InvalidToken(f"The token `{TOKEN}` was rejected by the server."),
        error.BadRequest(leaky),
        error.Forbidden(leaky),
        error.Conflict(leaky),
        error.NetworkError(leaky),
        _caused(error.NetworkError(leaky), httpx.ConnectError(leaky)),
        _caused(error.NetworkError(leaky), httpx.ReadError(leaky)),
        _caused(error.TimedOut(leaky), httpx.ReadTimeout(leaky)),
        _caused(error.TimedOut(leaky), httpx.PoolTimeout(leaky)),
        error.TelegramError(leaky),
        error.RetryAfter(3),
        error.ChatMigrated(-100),
    ]
    # A token that does not look like a real one is only caught by the exact-value scrub.
    odd_token = "not-a-real-token-shape"
    for exc in exceptions:
        for token in (TOKEN, odd_token):
            exc.message = exc.message.replace(TOKEN, token)
            mapped = map_telegram_error(exc, method="sendMessage", token=token)
            rendered = [mapped.message, str(mapped), repr(mapped), str(mapped.parameters)]
            rendered.append(str(classify(mapped).response))
            assert not [text for text in rendered if token in text], type(exc).__name__
            exc.message = exc.message.replace(token, TOKEN)


def test_telegram_errors_hides_the_original() -> None:
    with pytest.raises(errors.AuthError) as caught, telegram_errors("sendMessage", TOKEN):
        raise error.InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
    assert caught.value.__suppress_context__  # tracebacks do not print PTB's message
    assert TOKEN not in "".join(traceback.format_exception(caught.value))
