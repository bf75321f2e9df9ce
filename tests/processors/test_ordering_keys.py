"""Ordering keys end to end: one bot's chats run concurrently, each chat in publish order, and a
request whose header and field disagree is refused without a call."""

from __future__ import annotations

from collections import defaultdict

from schemas import ORDERING_KEY_HEADER, ResultStatus
from support.pipeline import Pipeline

CHATS, PER_CHAT = 30, 3


def most_at_once(times: list[float], latency_s: float) -> int:
    """The most calls the fake was answering at one moment (each takes ``latency_s``)."""
    events = sorted([(t, 1) for t in times] + [(t + latency_s, -1) for t in times])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


async def test_a_bot_with_ordering_keys_runs_its_chats_concurrently_each_in_order(
    pipeline: Pipeline,
) -> None:
    bot = pipeline.bot(1)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(1)}}})
    pipeline.fake.latency_s = 0.05
    requests = [
        pipeline.publisher.build(
            bot,
            "telegram_send_message",
            {"chat_id": 1000 + chat, "text": f"{chat}:{n}"},
            ordering_key=str(1000 + chat),
        )
        for n in range(PER_CHAT)
        for chat in range(CHATS)
    ]
    await pipeline.worker.astart()
    await pipeline.publisher.send_many(requests)
    results = await pipeline.results(len(requests), timeout_s=120)
    assert {r.status for r in results} == {ResultStatus.SUCCEEDED}

    calls = [c for c in pipeline.fake.calls if c.method == "sendMessage"]
    assert len(calls) == len(requests)
    by_chat: dict[object, list[str]] = defaultdict(list)
    for call in sorted(calls, key=lambda c: c.time):
        by_chat[call.chat_id].append(str(call.params["text"]))
    for chat in range(CHATS):
        assert by_chat[1000 + chat] == [f"{chat}:{n}" for n in range(PER_CHAT)]
    # One order per bot would make it one call at a time.
    overlap = most_at_once([c.time for c in calls], pipeline.fake.latency_s)
    print(f"\n{len(calls)} calls of one bot over {CHATS} chats: up to {overlap} at once")
    assert overlap > 1


async def test_a_header_without_its_field_is_refused_and_nothing_is_called(
    pipeline: Pipeline,
) -> None:
    bot = pipeline.bot(2)
    pipeline.write_credentials({bot: {"telegram": {"token": pipeline.token(2)}}})
    await pipeline.worker.astart()
    request = pipeline.publisher.build(bot, "telegram_send_message", {"chat_id": 5, "text": "x"})
    await pipeline.publisher.send(request, headers={ORDERING_KEY_HEADER: "5"})
    (result,) = await pipeline.results(1)
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert "actionstream-ordering-key header is set but the request has no ordering_key" in (
        result.error.message
    )
    assert pipeline.fake.calls == []
