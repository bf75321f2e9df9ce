"""A fake's wire tap: what reached its socket, split into requests, cut-short ones included."""

from __future__ import annotations

import asyncio

from integrations.telegram.testing import FakeTelegram
from integrations.wire_tap import WireRequest, wire_requests


async def test_the_wire_keeps_every_request_and_the_fake_still_answers() -> None:
    async with FakeTelegram(keep_wire=True) as fake:
        reader, writer = await asyncio.open_connection(fake.host, fake.port)
        body = b"chat_id=42&text=hello+there"
        head = (
            "POST /bot1:t/sendMessage HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"POST /bot1:t/sendMessage HTTP/1.1\r\nContent-Length: 10\r\n\r\nchat")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.1)
        seen = wire_requests(fake.wire)
    assert answer.startswith(b"HTTP/1.1 200")
    assert len(fake.calls) == 1
    assert seen == [
        WireRequest(
            "POST /bot1:t/sendMessage HTTP/1.1",
            {
                "host": "x",
                "content-type": "application/x-www-form-urlencoded",
                "content-length": str(len(body)),
            },
            body,
            complete=True,
        ),
        WireRequest(
            "POST /bot1:t/sendMessage HTTP/1.1", {"content-length": "10"}, b"chat", complete=False
        ),
    ]


def test_a_request_cut_inside_its_headers_is_still_seen() -> None:
    seen = wire_requests([bytearray(b"POST /bot1:t/sendMessage HTTP/1.1\r\nHo")])
    assert seen == [WireRequest("POST /bot1:t/sendMessage HTTP/1.1", {}, b"", complete=False)]


async def test_without_keep_wire_nothing_is_kept() -> None:
    async with FakeTelegram() as fake:
        _, writer = await asyncio.open_connection(fake.host, fake.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        writer.close()
    assert fake.wire == []
