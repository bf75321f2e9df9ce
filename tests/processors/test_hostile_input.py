"""A hostile corpus through a real worker: every hostile request gets one answer, no one else waits.

Real broker, Redis and worker subprocess. One run publishes valid Telegram requests of ten bots
alone (the baseline), then the same load interleaved with the corpus: hand-written cases for every
kind of hostile input a tenant controls (bytes, keys, ids, headers, times, configs, file
references, credentials' URLs, provider answers) and ``hypothesis``-generated configs for every
registered integration. Then:

* each hostile request has exactly one answer, a result (by request id) or, for records that are
  not requests, a dead letter (by offset), within a bound; the table of outcomes is printed;
* every valid request succeeds, and their p99 with and without the corpus is printed;
* ``/healthz`` answers throughout, and the worker's RSS stays bounded;
* a listener on a loopback port that tenants' credentials point at receives no connection, and no
  local file's bytes (the worker's environment, a marker file) reach the fake;
* a second worker started on the same topics inherits nothing stuck: new valid requests succeed,
  and no hostile request gets a second answer.

Every HTTP service's endpoint is a closed loopback port, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from integrations.discovery import BUILTIN_SERVICES
from processors.settings import EndpointSettings, IntegrationSettings, Settings
from schemas import DeadLetter, IntegrationRequest, IntegrationResult, ResultStatus, utc_now
from support.pipeline import Pipeline, free_port, running_pipeline

VALID_BOTS = 10
PER_PHASE = 100  # valid requests in each phase
ANSWER_BOUND_S = 60.0  # generous: it catches a stall, it does not measure speed
RSS_BOUND_MIB = 400
HTTP_SERVICES = (
    "discord", "openai", "dropbox", "openweathermap", "googlemaps", "yookassa", "stripe",
    "wildberries", "openfda", "newsapi", "googletranslate", "vk", "yandexgpt", "yandextranslate",
    "yandexweather", "yandexmaps", "ozon", "googledrive", "googleclassroom", "hubspot", "paypal",
)  # fmt: skip
# Every status but DUPLICATE is a request's one answer (a duplicate is an answer to a repeat).
FINAL = {
    ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.EXPIRED, ResultStatus.OUTCOME_UNKNOWN,
}  # fmt: skip


@dataclass
class Case:
    """One hostile input and what must answer it (``None``: any one final answer)."""

    name: str
    request: IntegrationRequest | None = None
    raw: bytes | None = None  # sent as the value instead of the encoded request
    key: bytes | str | None = "bot"  # "bot": the request's bot id
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    status: ResultStatus | None = None
    category: str | None = None  # the result's error category, or the dead letter's
    dead_letter_only: bool = False  # not a request: its one answer is a dead letter
    sent_at: float = 0.0
    where: tuple[int, int] | None = None  # (partition, offset) of the record


@dataclass
class Answer:
    result: IntegrationResult | None = None
    letters: list[DeadLetter] = field(default_factory=list)
    results: int = 0


def request(bot: str, integration: str, config: Any, **fields: Any) -> IntegrationRequest:
    text = config if isinstance(config, str) else json.dumps(config)
    built = IntegrationRequest.new(bot_id=bot, integration_id=integration, config=text)
    return replace(built, **fields) if fields else built


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def corpus(pipeline: Pipeline, bots: dict[str, str], marker: Path, port: int) -> list[Case]:
    h1, h2, h3, h4, h5 = (bots[f"h{n}"] for n in range(1, 6))
    now = datetime.now(UTC)
    tg = "telegram_send_message"
    ok = {"chat_id": 777, "text": "hostile but valid"}
    invalid = {"status": ResultStatus.FAILED, "category": "invalid_config"}
    refused = {"status": ResultStatus.FAILED, "category": "permanent"}
    undecodable = {"dead_letter_only": True, "category": "undecodable"}
    valid = pipeline.publisher.build(pipeline.bot(0), tg, {"chat_id": 1, "text": "x"})
    return [
        # Records that are not requests.
        Case("garbage bytes", raw=b"\x00\xffjunk", key=h1.encode(), **undecodable),
        Case("empty value", raw=b"", key=h1.encode(), **undecodable),
        Case("1 MB of garbage", raw=b"\x07" * 1_000_000, key=h1.encode(), **undecodable),
        Case("bot_id with spaces", request(f"{h1} x", tg, ok), **undecodable),
        Case("bot_id of 200 chars", request("b" * 200, tg, ok), **undecodable),
        Case("bot_id '..'", request("..", tg, ok), **undecodable),
        Case("bot_id '../../admin'", request("../../admin", tg, ok), **undecodable),
        Case("empty bot_id", request("", tg, ok), **undecodable),
        # Identity.
        Case("key differs from bot_id", replace(valid, request_id=uuid.uuid4()), key=h1.encode(),
             status=ResultStatus.FAILED),
        Case("no key", request(h1, tg, ok), key=None, status=ResultStatus.FAILED),
        # Headers and times.
        Case("attempts header garbage", request(h1, tg, {**ok, "chat_id": 771}),
             headers=[("actionstream-attempts", b"\xff{not json")]),
        Case("attempts header 64 KiB", request(h1, tg, {**ok, "chat_id": 772}),
             headers=[("actionstream-attempts", b"[" * 65536)]),
        Case("not_before in 9999 on the requests topic",
             request(h1, tg, {**ok, "chat_id": 773}, not_before=datetime(9999, 1, 1, tzinfo=UTC)),
             status=ResultStatus.SUCCEEDED),
        Case("deadline passed", request(h1, tg, ok, deadline=now - timedelta(hours=1)),
             status=ResultStatus.EXPIRED),
        Case("created in 1970", request(h1, tg, {**ok, "chat_id": 774},
             created_at=datetime(1970, 1, 1, tzinfo=UTC))),
        # Ids and versions.
        Case("unknown integration", request(h1, "nosuch_action", {}), status=ResultStatus.FAILED),
        Case("integration id of 10 KB", request(h1, "x" * 10_000, {}), status=ResultStatus.FAILED),
        Case("integration id with NUL", request(h1, tg + "\x00", ok), status=ResultStatus.FAILED),
        Case("unknown version", request(h1, tg, ok, integration_version="99.0.0"),
             status=ResultStatus.FAILED),
        Case("idempotency key of 10 KB",
             request(h1, tg, {**ok, "chat_id": 775}, idempotency_key="k" * 10_000)),
        Case("connection group of 10 KB",
             request(h1, tg, {**ok, "chat_id": 776}, connection_group_id="g" * 10_000)),
        # Configs.
        Case("config is not JSON", request(h1, tg, "{"), **invalid),
        Case("config is an array", request(h1, tg, "[]"), **invalid),
        Case("config with NaN", request(h1, tg, '{"chat_id": NaN, "text": "x"}'), **invalid),
        Case("config 1000 deep", request(h1, tg, nested(1000)), **invalid),
        Case("config of 300 KB", request(h1, tg, {"chat_id": 1, "text": "x" * 300_000}),
             **invalid),
        Case("config with 5000 keys", request(h1, tg, {f"k{i}": i for i in range(5000)}),
             **invalid),
        Case("text over 4096", request(h1, tg, {"chat_id": 1, "text": "x" * 5000}), **invalid),
        Case("chat_id 10**30", request(h1, tg, {"chat_id": 10**30, "text": "x"}), **invalid),
        Case("openFDA name 200 KB", request(h1, "openfda_drug_label", {"name": "a" * 200_000}),
             **invalid),
        Case("openFDA name of quotes", request(h1, "openfda_drug_label", {"name": '"' * 200_000}),
             **invalid),
        Case("Stripe return_url not a URI", request(h1, "stripe_create_payment_intent",
             {"amount": 100, "currency": "usd", "return_url": "not a uri"}), **invalid),
        Case("Stripe amount 10**30", request(h1, "stripe_create_payment_intent",
             {"amount": 10**30, "currency": "usd"}), **invalid),
        Case("Discord timestamp not a date", request(h1, "discord_execute_webhook",
             {"embeds": [{"title": "t", "timestamp": "yesterday"}]}), **invalid),
        Case("YooKassa amount 1e309", request(h1, "yookassa_create_payment",
             {"amount": {"value": "1e309", "currency": "RUB"}}), **invalid),
        # File references.
        Case("photo /proc/self/environ", request(h1, "telegram_send_photo",
             {"chat_id": 1, "photo": "/proc/self/environ"}), **invalid),
        Case("photo file:///etc/passwd", request(h1, "telegram_send_photo",
             {"chat_id": 1, "photo": "file:///etc/passwd"}), **invalid),
        Case("photo relative path", request(h1, "telegram_send_photo",
             {"chat_id": 1, "photo": "../../../../proc/self/environ"}), **invalid),
        Case("photo local marker file", request(h1, "telegram_send_photo",
             {"chat_id": 1, "photo": str(marker)}), **invalid),
        Case("photo_base64 not base64", request(h1, "telegram_send_photo",
             {"chat_id": 1, "photo_base64": "!!!not base64!!!"}), **invalid),
        # Credentials' URLs (tenant-controlled hosts).
        Case("Bitrix24 webhook on a loopback listener",
             request(h1, "bitrix24_add_lead", {"title": "x"}), **refused),
        Case("Bitrix24 webhook on the metadata address",
             request(h2, "bitrix24_add_lead", {"title": "x"}), **refused),
        Case("Bitrix24 webhook on localhost", request(h4, "bitrix24_add_lead", {"title": "x"}),
             **refused),
        Case("Moodle site on the metadata address (http)",
             request(h1, "moodle_send_message", {"user_id": 3, "text": "x"}),
             status=ResultStatus.FAILED),
        Case("Moodle site on a private address",
             request(h2, "moodle_send_message", {"user_id": 3, "text": "x"}), **refused),
        Case("Moodle site on [::1]",
             request(h4, "moodle_send_message", {"user_id": 3, "text": "x"}), **refused),
        Case("Moodle site file:///etc", request(h3, "moodle_send_message",
             {"user_id": 3, "text": "x"}), status=ResultStatus.FAILED),
        # A config's URL (the feed reader fetches what the tenant names).
        Case("feed on the metadata address", request(h1, "rss_read_feed",
             {"url": "https://169.254.169.254/latest/meta-data/"}), **refused),
        Case("feed on a loopback listener", request(h1, "rss_read_feed",
             {"url": f"https://127.0.0.1:{port}/feed.xml"}), **refused),
        Case("feed on localhost over http", request(h1, "rss_read_feed",
             {"url": f"http://localhost:{port}/feed.xml"}), **refused),
        Case("feed file:///etc/passwd", request(h1, "rss_read_feed",
             {"url": "file:///etc/passwd"}), **invalid),
        Case("Discord webhook URL on the listener (only id and token are used)",
             request(h1, "discord_execute_webhook", {"content": "x"}), status=ResultStatus.FAILED),
        # Provider answers and credentials.
        Case("Telegram Retry-After of 10**9 s", request(h3, tg, {**ok, "chat_id": 778}),
             status=ResultStatus.FAILED, category="rate_limited"),
        Case("Telegram token of 100 KB", request(h5, tg, {**ok, "chat_id": 779}),
             status=ResultStatus.FAILED),
        Case("a bug in an integration", request(h1, "testkit_crash", {"note": "boom"}),
             status=ResultStatus.FAILED, category="internal"),
        Case("openFDA anonymously, provider down", request(h1, "openfda_drug_label",
             {"name": "advil"}), status=ResultStatus.FAILED),
    ]  # fmt: skip


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=200),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=16,
)  # fmt: skip


def generated_configs(schema: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """``count`` configs drawn with ``hypothesis``: the schema's own keys (and strangers), with
    any JSON values; deterministic, so a failure reproduces."""
    keys = sorted(schema.get("properties", {})) or ["x"]
    strategy = st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), JSON, max_size=6)
    found: list[dict[str, Any]] = []

    @settings(max_examples=count, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def draw(config: dict[str, Any]) -> None:
        found.append(config)

    draw()
    return found[:count]


def generated_cases(bot: str) -> Iterator[Case]:
    for service in BUILTIN_SERVICES:
        for integration in importlib.import_module(f"integrations.{service}").INTEGRATIONS:
            meta = integration.metadata
            for n, config in enumerate(generated_configs(meta.config_schema, 3)):
                yield Case(f"generated {meta.id} #{n}", request(bot, meta.id, config))


def valid_load(pipeline: Pipeline, phase: int) -> list[IntegrationRequest]:
    return [
        pipeline.publisher.build(
            pipeline.bot(n % VALID_BOTS), "telegram_send_message",
            {"chat_id": 50_000 + phase * 1_000 + n, "text": f"valid {phase}.{n}"},
        )
        for n in range(PER_PHASE)
    ]  # fmt: skip


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def latencies_ms(results: list[IntegrationResult], sent: list[IntegrationRequest]) -> list[float]:
    """Publish (``created_at``, set just before sending) to finish, per valid request."""
    by_id = {str(r.request_id): r for r in results}
    return [(by_id[str(r.request_id)].finished_at - r.created_at) / timedelta(milliseconds=1)
            for r in sent]  # fmt: skip


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def hostile_credentials(bots: dict[str, str], pipeline: Pipeline, port: int) -> dict[str, Any]:
    """``{bot: {provider: {strategy: fields}}}``: the tenants' own credentials, hostile URLs in."""
    listener = f"127.0.0.1:{port}"
    moodle = {"token": "t" * 32}
    return {
        bots["h1"]: {
            "telegram": {"api_key": {"token": pipeline.token(91)}},
            "bitrix24": {"api_key": {"webhook_url": f"https://{listener}/rest/1/s3cr3tw3bh00k/"}},
            "moodle": {"api_key": {"site_url": "http://169.254.169.254", **moodle}},
            "discord": {"api_key": {"webhook_url": f"https://{listener}/api/webhooks/1/tok"}},
            "testkit": {"api_key": {"token": "tk-hostile-secret"}},
        },
        bots["h2"]: {
            "bitrix24": {"api_key": {"webhook_url": "https://169.254.169.254/rest/1/abcdefgh/"}},
            "moodle": {"api_key": {"site_url": "https://10.0.0.7", **moodle}},
        },
        bots["h3"]: {
            "telegram": {"api_key": {"token": pipeline.token(90)}},  # answered 429 for 10**9 s
            "moodle": {"api_key": {"site_url": "file:///etc", **moodle}},
        },
        bots["h4"]: {
            "bitrix24": {"api_key": {"webhook_url": f"https://localhost:{port}/rest/1/abcdefgh/"}},
            "moodle": {"api_key": {"site_url": f"https://[::1]:{port}", **moodle}},
        },
        bots["h5"]: {"telegram": {"api_key": {"token": "1:" + "A" * 100_000}}},
    }


async def publish(
    pipeline: Pipeline, cases: list[Case], load: list[IntegrationRequest]
) -> list[IntegrationRequest]:
    """The cases as raw records, each followed by a valid request; the valid ones as sent."""
    sent_valid = []
    producer = AIOKafkaProducer(
        bootstrap_servers=pipeline.settings.kafka.bootstrap_servers,
        max_request_size=2 * 1024 * 1024,
    )
    await producer.start()
    try:
        for n, case in enumerate(cases):
            if case.raw is not None:
                value = case.raw
            else:
                assert case.request is not None
                value = pipeline.codec.encode(case.request)
            key = case.key
            if key == "bot":
                assert case.request is not None
                key = case.request.bot_id
            case.sent_at = time.time()
            raw_key = key.encode() if isinstance(key, str) else key
            done = await producer.send_and_wait(
                pipeline.settings.topics.requests, key=raw_key, value=value, headers=case.headers
            )
            case.where = (done.partition, done.offset)
            if n < len(load):
                sent_valid.append(await send_now(pipeline, load[n]))
        for request in load[len(cases) :]:
            sent_valid.append(await send_now(pipeline, request))
    finally:
        await producer.stop()
    return sent_valid


async def send_now(pipeline: Pipeline, request: IntegrationRequest) -> IntegrationRequest:
    fresh = replace(request, created_at=utc_now())
    await pipeline.publisher.send(fresh)
    return fresh


def judge(case: Case, answer: Answer) -> tuple[bool, str, float]:
    """Whether ``answer`` is the one answer ``case`` wants; what it was; how long it took."""
    if case.dead_letter_only:
        if not answer.letters:
            return False, "no dead letter", -1.0
        letter = answer.letters[0]
        ok = len(answer.letters) == 1 and answer.results == 0
        ok = ok and case.category in (None, letter.error.category)
        return (
            ok,
            f"dead letter: {letter.error.category}",
            letter.failed_at.timestamp() - case.sent_at,
        )
    result = answer.result
    if result is None:
        return False, "no result", -1.0
    category = result.error.category if result.error else None
    ok = answer.results == 1 and case.status in (None, result.status)
    ok = ok and case.category in (None, category)
    took = result.finished_at.timestamp() - case.sent_at
    return ok, f"{result.status.value} {category or ''}".strip(), took


async def test_a_hostile_corpus_gets_one_answer_each_and_no_one_else_waits(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, unique: str
) -> None:
    connections: list[object] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    down = free_port()  # closed again: nothing listens there
    marker = tmp_path / "marker.txt"
    marker.write_bytes(b"LOCAL-FILE-MARKER-7f3a")

    def adjust(settings: Settings) -> Settings:
        endpoints = {
            s: EndpointSettings(base_url=f"http://127.0.0.1:{down}") for s in HTTP_SERVICES
        }
        integrations = IntegrationSettings(extra_modules=["support.testkit"], endpoints=endpoints)
        return settings.model_copy(update={"integrations": integrations})

    async with running_pipeline(
        kafka_bootstrap, redis_url, tmp_path, unique, adjust=adjust
    ) as pipeline:
        bots = {f"h{n}": f"hostile-{unique}-{n}" for n in range(1, 6)}
        credentials: dict[str, Any] = {
            pipeline.bot(b): {"telegram": {"api_key": {"token": pipeline.token(b)}}}
            for b in range(VALID_BOTS)
        }
        credentials.update(hostile_credentials(bots, pipeline, port))
        pipeline.credentials_file.write_text(json.dumps(credentials))
        pipeline.fake.inject("rate_limit", token=pipeline.token(90), times=None, retry_after=10**9)
        await pipeline.worker.astart()
        assert pipeline.worker.proc is not None
        pid = pipeline.worker.proc.pid
        health = f"http://127.0.0.1:{pipeline.settings.worker.web_port}/healthz"

        # Phase 1: the valid load alone.
        alone = [await send_now(pipeline, r) for r in valid_load(pipeline, 1)]
        wanted = {str(r.request_id) for r in alone}
        results = await pipeline.results_until(
            lambda got: wanted <= {str(r.request_id) for r in got}
        )
        alone_ms = latencies_ms(results, alone)
        rss_before = rss_mib(pid)

        # Phase 2: the same load, interleaved with the corpus; /healthz and RSS watched.
        cases = corpus(pipeline, bots, marker, port) + list(generated_cases(bots["h1"]))
        assert sum(not c.name.startswith("generated") for c in cases) >= 40
        health_codes: list[int] = []
        rss_peak = [rss_before]
        stop = asyncio.Event()

        async def watch() -> None:
            async with httpx.AsyncClient(timeout=5.0) as client:
                while not stop.is_set():
                    try:
                        health_codes.append((await client.get(health)).status_code)
                    except httpx.HTTPError:
                        health_codes.append(0)
                    rss_peak.append(rss_mib(pid))
                    await asyncio.sleep(0.25)

        watcher = asyncio.create_task(watch())
        try:
            load = await publish(pipeline, cases, valid_load(pipeline, 2))
            by_request = {
                str(c.request.request_id): c for c in cases if c.request and not c.dead_letter_only
            }
            wanted = {str(r.request_id) for r in load} | set(by_request)
            results = await pipeline.results_until(
                lambda got: wanted <= {str(r.request_id) for r in got}, timeout_s=ANSWER_BOUND_S
            )
            letters = await pipeline.dead_letters(
                sum(c.dead_letter_only for c in cases), timeout_s=ANSWER_BOUND_S
            )
        finally:
            stop.set()
            await watcher

        answers = {id(c): Answer() for c in cases}
        for result in results:
            case = by_request.get(str(result.request_id))
            if case is not None and result.status in FINAL:
                answers[id(case)].results += 1
                answers[id(case)].result = result
        at = {c.where: c for c in cases}
        for letter in letters:
            if letter.topic == pipeline.settings.topics.requests:
                case = at.get((letter.partition, letter.offset))
                if case is not None:
                    answers[id(case)].letters.append(letter)
        lines, problems = [], []
        for case in cases:
            ok, got, took = judge(case, answers[id(case)])
            lines.append(f"  {'ok ' if ok else 'BAD'} {took:6.2f}s  {case.name[:64]:<64} {got}")
            if not ok or took > ANSWER_BOUND_S:
                problems.append(f"{case.name}: {got} after {took:.1f}s")
        with_ms = latencies_ms(results, load)
        generated = sum(c.name.startswith("generated") for c in cases)
        print(f"\nhostile corpus: {len(cases)} cases ({generated} generated by hypothesis)")
        print("\n".join(lines))
        print(
            f"valid requests p99: alone {p99(alone_ms):.0f} ms, with the corpus "
            f"{p99(with_ms):.0f} ms; RSS {rss_before:.0f} -> peak {max(rss_peak):.0f} MiB; "
            f"/healthz {dict(Counter(health_codes))}"
        )
        assert not problems, "\n".join(problems)
        statuses = {str(r.request_id): r.status for r in results}
        assert all(statuses[str(r.request_id)] is ResultStatus.SUCCEEDED for r in load)
        # Generous: it catches valid requests stuck behind hostile ones, not jitter.
        assert p99(with_ms) < p99(alone_ms) + 2_000
        assert health_codes and set(health_codes) == {200}, Counter(health_codes)
        assert max(rss_peak) < RSS_BOUND_MIB, f"RSS peaked at {max(rss_peak):.0f} MiB"
        assert connections == [], f"a tenant's URL reached a loopback listener: {connections}"
        key = pipeline.settings.credentials.encryption_key
        local = [marker.read_bytes(), key.get_secret_value().encode() if key else b"\x00"]
        for call in pipeline.fake.calls:
            seen = json.dumps(call.params).encode() + b"".join(f.data for f in call.files.values())
            assert not any(part in seen for part in local), f"local bytes in {call.method}"

        # A second worker on the same topics inherits nothing stuck.
        await pipeline.worker.astop()
        await pipeline.worker.astart()
        after = [await send_now(pipeline, r) for r in valid_load(pipeline, 3)[:20]]
        wanted = {str(r.request_id) for r in after}
        results = await pipeline.results_until(
            lambda got: wanted <= {str(r.request_id) for r in got}, timeout_s=ANSWER_BOUND_S
        )
        final = Counter(str(r.request_id) for r in results if r.status in FINAL)
        assert all(final[str(r.request_id)] == 1 for r in after)
        assert {rid: n for rid, n in final.items() if rid in by_request and n != 1} == {}
        assert pipeline.worker.running
    listener.close()
    await listener.wait_closed()
