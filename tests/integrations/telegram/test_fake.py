"""The fake Bot API itself: wire protocol, recording, injection, latency, standalone mode."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from integrations.telegram.testing import FakeTelegram

REPO = Path(__file__).resolve().parents[3]
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def token() -> str:
    return TOKEN


async def test_records_form_params_json_decoded(fake: FakeTelegram, token: str) -> None:
    async with httpx.AsyncClient() as http:
        markup = json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": "x"}]]})
        data = {
            "chat_id": "42",
            "text": "123",
            "reply_markup": markup,
            "disable_notification": "true",
        }
        response = await http.post(f"{fake.base_url}{token}/sendMessage", data=data)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["chat"] == {"id": 42, "type": "private", "first_name": "User"}
    assert body["result"]["reply_markup"] == json.loads(markup)
    [call] = fake.calls
    assert (call.token, call.method, call.chat_id, call.text) == (token, "sendMessage", 42, "123")
    assert call.params["reply_markup"] == json.loads(markup)  # decoded, not a JSON string
    assert call.params["disable_notification"] is True
    assert call.text == "123"  # string parameters stay strings even when they look like JSON
    assert call.status == 200
    assert fake.messages(token=token, chat_id=42) == [call]


async def test_method_names_are_case_insensitive_and_get_json_work(
    fake: FakeTelegram, token: str
) -> None:
    async with httpx.AsyncClient() as http:
        r1 = await http.post(
            f"{fake.base_url}{token}/SENDMESSAGE", data={"chat_id": 1, "text": "a"}
        )
        r2 = await http.get(f"{fake.base_url}{token}/sendmessage?chat_id=1&text=b")
        r3 = await http.post(
            f"{fake.base_url}{token}/sendMessage", json={"chat_id": 1, "text": "c"}
        )
        r4 = await http.post(f"{fake.base_url}{token}/getMe")
        r5 = await http.post(f"{fake.base_url}{token}/noSuchMethod")
    assert [r.status_code for r in (r1, r2, r3, r4)] == [200, 200, 200, 200]
    assert [m.text for m in fake.messages()] == ["a", "b", "c"]
    assert {m.method for m in fake.messages()} == {"sendMessage"}
    assert [r.json()["result"]["message_id"] for r in (r1, r2, r3)] == [1, 2, 3]  # per chat
    assert r4.json()["result"]["id"] == 123456789  # the token's numeric prefix
    assert r5.status_code == 404
    assert r5.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_strict_tokens_and_traceparent() -> None:
    async with FakeTelegram(accept_any_token=False) as fake, httpx.AsyncClient() as http:
        fake.add_token("1:good", username="good_bot")
        headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        ok = await http.post(
            f"{fake.base_url}1:good/sendMessage", data={"chat_id": 5, "text": "x"}, headers=headers
        )
        bad = await http.post(f"{fake.base_url}2:bad/sendMessage", data={"chat_id": 5, "text": "x"})
        me = await http.post(f"{fake.base_url}1:good/getMe")
    assert ok.status_code == 200
    assert bad.status_code == 401
    assert bad.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert me.json()["result"]["username"] == "good_bot"
    assert fake.calls[0].traceparent == headers["traceparent"]
    assert fake.calls[1].traceparent is None
    assert [c.token for c in fake.messages()] == ["1:good"]  # the rejected call is not a message


async def test_validation_like_telegram(fake: FakeTelegram, token: str) -> None:
    async with httpx.AsyncClient() as http:
        url = f"{fake.base_url}{token}"
        answers = [
            await http.post(f"{url}/sendMessage", data={"text": "x"}),
            await http.post(f"{url}/sendMessage", data={"chat_id": 1, "text": ""}),
            await http.post(f"{url}/sendMessage", data={"chat_id": 1, "text": "x" * 4097}),
            await http.post(f"{url}/sendMessage", data={"chat_id": "nope", "text": "x"}),
            await http.post(f"{url}/sendPhoto", data={"chat_id": 1}),
        ]
    assert [a.status_code for a in answers] == [400] * 5
    assert [a.json()["description"] for a in answers] == [
        "Bad Request: chat_id is empty",
        "Bad Request: message text is empty",
        "Bad Request: message is too long",
        "Bad Request: chat not found",
        "Bad Request: there is no photo in the request",
    ]
    assert fake.messages() == []


async def test_injection_filters_counts_and_clear(fake: FakeTelegram) -> None:
    injection = fake.inject("rate_limit", token="1:a", chat_id=7, retry_after=3, times=2)
    forever = fake.inject("blocked", chat_id=8, times=None)
    async with httpx.AsyncClient() as http:

        async def send(tok: str, chat: int) -> httpx.Response:
            return await http.post(
                f"{fake.base_url}{tok}/sendMessage", data={"chat_id": chat, "text": "hi"}
            )

        other_token = await send("1:b", 7)
        first, second, third = [await send("1:a", 7) for _ in range(3)]
        blocked = [await send("1:a", 8) for _ in range(3)]
    assert other_token.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert injection.hits == 2
    assert injection.remaining == 0
    assert {b.status_code for b in blocked} == {403}
    assert forever.hits == 3
    assert [c.status for c in fake.calls] == [200, 429, 429, 200, 403, 403, 403]
    fake.clear()
    assert fake.calls == []
    async with httpx.AsyncClient() as http:
        again = await http.post(f"{fake.base_url}1:a/sendMessage", data={"chat_id": 8, "text": "x"})
    assert again.status_code == 200
    assert again.json()["result"]["message_id"] == 1  # message ids restart after clear()


async def test_latency_and_wait_for_messages(fake: FakeTelegram) -> None:
    fake.latency_s = 0.05
    fake.set_latency(0.2, chat_id=2)
    async with httpx.AsyncClient() as http:
        url = f"{fake.base_url}1:a/sendMessage"
        started = time.perf_counter()
        await http.post(url, data={"chat_id": 1, "text": "x"})
        fast = time.perf_counter() - started
        started = time.perf_counter()
        waiter = asyncio.create_task(fake.wait_for_messages(2, timeout_s=5))
        await http.post(url, data={"chat_id": 2, "text": "y"})
        slow = time.perf_counter() - started
        found = await waiter
    assert 0.05 <= fast < slow
    assert slow >= 0.25
    assert [m.text for m in found] == ["x", "y"]
    with pytest.raises(TimeoutError):
        await fake.wait_for_messages(3, timeout_s=0.05)


async def test_every_fault_kind_reaches_ptb_as_telegram_would(fake: FakeTelegram) -> None:
    from telegram import error

    request = HTTPXRequest(read_timeout=0.3)
    bot = Bot("1:a", base_url=fake.base_url, request=request, get_updates_request=request)
    expected = {
        "rate_limit": error.RetryAfter,
        "chat_not_found": error.BadRequest,
        "unauthorized": error.InvalidToken,
        "blocked": error.Forbidden,
        "server_error": error.NetworkError,
        "migrate": error.ChatMigrated,
        "conflict": error.Conflict,
        "timeout": error.TimedOut,
        "disconnect": error.NetworkError,
    }
    try:
        for kind, exc_type in expected.items():
            fake.inject(kind, delay_s=2)  # type: ignore[arg-type]
            with pytest.raises(exc_type):
                await bot.send_message(-100, "x")
        chat_ids = [error_call.chat_id for error_call in fake.calls]
        assert chat_ids == [-100] * len(expected)
        # "timeout" delivers before going quiet: the message exists although PTB timed out.
        assert [m.text for m in fake.messages()] == ["x"]
    finally:
        await request.shutdown()


@pytest.mark.parametrize(
    ("status", "retry_after_s", "body", "retry_after_header"),
    [
        (429, 7, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                  "parameters": {"retry_after": 7}}, "7"),
        (429, None, {"ok": False, "error_code": 429,
                     "description": "Too Many Requests: injected HTTP 429"}, None),
        (403, None, {"ok": False, "error_code": 403,
                     "description": "Forbidden: injected HTTP 403"}, None),
    ],
)  # fmt: skip
async def test_shared_faults_answer_in_telegrams_envelope(
    fake: FakeTelegram,
    token: str,
    status: int,
    retry_after_s: float | None,
    body: dict[str, object],
    retry_after_header: str | None,
) -> None:
    fake.fail_next(status, retry_after_s=retry_after_s)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fake.base_url}{token}/sendMessage", data={"chat_id": 1})
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers.get("Retry-After") == retry_after_header
    assert fake.calls == []  # answered before the handler
    assert [r.path for r in fake.requests] == [f"/bot{token}/sendMessage"]


async def test_standalone_demo_prints_base_url_and_logs_messages() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "integrations.telegram.testing",
        "--port",
        "0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        base_url = line.strip().rsplit("base_url=", 1)[1]
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/bot")
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{base_url}1:a/sendMessage", data={"chat_id": 9, "text": "demo hello"}
            )
        assert response.status_code == 200
        logged = (await asyncio.wait_for(process.stderr.readline(), 10)).decode()
        assert "sendMessage chat=9 demo hello" in logged
    finally:
        process.terminate()
        await process.wait()
