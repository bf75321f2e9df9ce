"""topics apply/describe against the real broker."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processors.settings import TopicSettings
from topics.admin import TopicAdmin, TopicState
from topics.catalogue import TopicRole, catalogue


def _settings(unique: str) -> TopicSettings:
    return TopicSettings(
        requests=f"adm.{unique}.requests",
        results=f"adm.{unique}.results",
        retry=f"adm.{unique}.retry",
        dlq=f"adm.{unique}.dlq",
        commands=f"adm.{unique}.commands",
        partitions=3,
    )


async def test_apply_creates_what_is_missing_then_reports_ok(
    kafka_bootstrap: str, unique: str
) -> None:
    specs = catalogue(_settings(unique))
    async with TopicAdmin(kafka_bootstrap) as admin:
        first = await admin.apply(specs)
        second = await admin.apply(specs)
        live = await admin.describe([s.name for s in specs])
    assert [r.state for r in first] == [TopicState.CREATED] * 5
    assert [r.state for r in second] == [TopicState.OK] * 5
    commands = live.pop(_settings(unique).commands)
    assert commands.partitions == 1
    assert commands.configs["retention.ms"] == "-1"
    assert {t.partitions for t in live.values()} == {3}
    results = live[_settings(unique).results]
    assert results.configs["retention.ms"] == str(30 * 24 * 3600 * 1000)


async def test_apply_reports_drift_and_changes_nothing(kafka_bootstrap: str, unique: str) -> None:
    settings = _settings(unique)
    raw = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await raw.start()
    try:
        await raw.create_topics(
            [NewTopic(settings.requests, 1, 1, topic_configs={"retention.ms": "1000"})]
        )
    finally:
        await raw.close()
    async with TopicAdmin(kafka_bootstrap) as admin:
        reports = {r.spec.role: r for r in await admin.apply(catalogue(settings))}
        live = await admin.describe([settings.requests])
    drifted = reports[TopicRole.REQUESTS]
    assert drifted.state is TopicState.DRIFT
    assert "partitions: live 1, wanted 3" in drifted.drift
    assert any(d.startswith("retention.ms: live 1000") for d in drifted.drift)
    assert live[settings.requests].partitions == 1  # never altered
    assert reports[TopicRole.RESULTS].state is TopicState.CREATED
