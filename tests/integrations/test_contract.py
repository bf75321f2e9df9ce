"""One contract for every registered integration, run against its service's fake.

Like FastStream's broker test bases, the same cases run for every built-in integration: what each
service supplies is its fake and a :class:`~integrations.testing.ContractSubject` in
``integrations/<service>/testing.py`` (``CONTRACT``). A new integration gets all of these by
adding them; its own test file keeps only what is specific to it.

The cases: valid, registered metadata and a compiling config schema; a success; missing
credentials → the seed's 401 envelope with no call made; provider 401/403 → auth (or what the
subject says a 403 means); 429 with and without ``Retry-After`` → rate_limited with the delay;
500, a timeout and a cut connection → transient, "maybe executed" exactly when the action has a
side effect; 503 and a refused connection → transient and *not* executed; a body that is not the
provider's → a classified error, never a crash. No credential ever appears in an outcome.
"""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
import pytest

from integrations.base import BaseIntegration, SideEffect
from integrations.bot_logger import BotLogger, SecretRedactingFilter, SecretSet, is_secret_key
from integrations.context import RequestContext, executing
from integrations.discovery import BUILTIN_SERVICES, discover
from integrations.errors import InvalidConfigError
from integrations.outcome import Outcome, OutcomeCategory, classify, credentials_not_found
from integrations.registry import IntegrationRegistry
from integrations.resources import Resources
from integrations.testing import FakeServer
from support.integrations import subject_of
from support.resolvers import StubResolver

BOT_ID = "6f1c2a9e-0000-4000-8000-0000c0c7ac75"
TIMEOUT_S = 0.5


def _integrations() -> list[tuple[str, BaseIntegration]]:
    pairs: list[tuple[str, BaseIntegration]] = []
    for service in BUILTIN_SERVICES:
        package = importlib.import_module(f"integrations.{service}")
        pairs.extend((service, integration) for integration in package.INTEGRATIONS)
    return pairs


INTEGRATIONS = _integrations()
IDS = [integration.metadata.id for _, integration in INTEGRATIONS]


@dataclass
class Run:
    """What one contract case saw: the outcome, what came back, and the fake."""

    outcome: Outcome
    returned: Any
    fake: FakeServer[Any, Any]
    writes: bool
    secrets: SecretSet


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_case(
    service: str,
    original: BaseIntegration,
    arrange: Callable[[FakeServer[Any, Any]], object] = lambda fake: None,
    *,
    credentials: bool = True,
    refused: bool = False,
) -> Run:
    subject = subject_of(service)
    meta = original.metadata
    config = subject.configs[meta.id]
    meta.validate_config(config)
    async with subject.fake() as fake:
        url = fake.base_url
        url = url.replace(f":{fake.port}", f":{_closed_port()}") if refused else url
        resources = Resources.open(*subject.settings(url, timeout_s=TIMEOUT_S))
        integration = type(original)()
        integration.bind(resources)
        arrange(fake)
        resolver = StubResolver(dict(subject.credentials) if credentials else None)
        logger = BotLogger("tests.contract", bot_id=BOT_ID, integration_id=meta.id)
        context = RequestContext(
            request_id="contract-1", bot_id=BOT_ID, idempotency_key="contract-1", attempt=1
        )
        returned: Any = None
        try:
            with executing(context):
                returned = await integration.execute(config, resolver, BOT_ID, logger)
        except Exception as exc:
            outcome = classify(exc, secrets=logger.secrets)
        else:
            outcome = classify(returned, secrets=logger.secrets)
        finally:
            await resources.aclose()
    secrets = _secrets(subject.credentials)
    for leak in _leaks(repr(outcome), secrets):
        pytest.fail(f"{meta.id}: a credential leaked into the outcome: {leak!r}")
    writes = meta.side_effect is not SideEffect.NONE
    return Run(outcome, returned, fake, writes, secrets)


def _secrets(credentials: Mapping[str, Any]) -> SecretSet:
    """The credentials' secret values (a token, not the site URL beside it); all of them when
    no field is named like a secret (a webhook URL is one)."""
    named = [value for key, value in credentials.items() if is_secret_key(key)]
    return SecretSet(named or list(credentials.values()))


def _leaks(text: str, secrets: SecretSet) -> list[str]:
    return ["<secret>"] if secrets.redact(text) != text else []


each = pytest.mark.parametrize(("service", "integration"), INTEGRATIONS, ids=IDS)


@each
def test_metadata_is_registered_and_its_config_schema_compiles(
    service: str, integration: BaseIntegration
) -> None:
    meta = integration.metadata
    registry = IntegrationRegistry()
    report = discover(registry, (service,), entry_point_group=None)
    assert f"{meta.id}@{meta.version}" in report.registered
    assert registry.metadata(meta.id, meta.version) == meta
    jsonschema.Draft202012Validator.check_schema(meta.config_schema)
    assert set(subject_of(service).configs) >= {meta.id}


@each
async def test_succeeds_against_the_fake(service: str, integration: BaseIntegration) -> None:
    run = await run_case(service, integration)
    assert run.outcome.category is OutcomeCategory.SUCCEEDED, run.outcome
    assert run.fake.requests


@each
async def test_missing_credentials_answer_the_seed_401_envelope_and_call_nothing(
    service: str, integration: BaseIntegration
) -> None:
    run = await run_case(service, integration, credentials=False)
    if subject_of(service).credentials_optional:  # served anonymously instead
        assert run.outcome.category is OutcomeCategory.SUCCEEDED, run.outcome
        return
    assert run.returned == credentials_not_found()
    assert run.outcome.category is OutcomeCategory.AUTH
    assert run.fake.requests == []


@dataclass(frozen=True)
class Case:
    """One failure the provider (or the network) answers with, and the outcome it must give.

    ``category`` None means the subject's ``forbidden``; ``maybe_executed`` "writes" means
    exactly when the action has a side effect.
    """

    name: str
    arrange: Callable[[FakeServer[Any, Any]], object]
    category: OutcomeCategory | None
    maybe_executed: bool | Literal["writes"] | None = None
    retry_after_s: float | None = None
    refused: bool = False


RATE_LIMITED, TRANSIENT = OutcomeCategory.RATE_LIMITED, OutcomeCategory.TRANSIENT
CASES = [
    Case("401", lambda fake: fake.fail_next(401), OutcomeCategory.AUTH),
    Case("403", lambda fake: fake.fail_next(403), None),
    Case("429-retry-after", lambda fake: fake.fail_next(429, retry_after_s=7), RATE_LIMITED,
         retry_after_s=7),
    Case("429-bare", lambda fake: fake.fail_next(429), RATE_LIMITED),
    Case("500", lambda fake: fake.fail_next(500), TRANSIENT, "writes"),
    Case("503", lambda fake: fake.fail_next(503), TRANSIENT, False),
    Case("timeout", lambda fake: fake.stall_next(10 * TIMEOUT_S), TRANSIENT, "writes"),
    Case("cut-connection", lambda fake: fake.drop_next(), TRANSIENT, "writes"),
    Case("refused-connection", lambda fake: None, TRANSIENT, False, refused=True),
]  # fmt: skip


@each
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_failure_is_classified_as_the_contract_says(
    service: str, integration: BaseIntegration, case: Case
) -> None:
    run = await run_case(service, integration, case.arrange, refused=case.refused)
    outcome = run.outcome
    assert outcome.category is (case.category or subject_of(service).forbidden), outcome
    assert outcome.retryable is (outcome.category in (RATE_LIMITED, TRANSIENT)), outcome
    if case.maybe_executed is not None:
        expected = run.writes if case.maybe_executed == "writes" else case.maybe_executed
        said = subject_of(service).error_answer_executed
        if case.name == "500" and said is not None:
            expected = said
        assert outcome.maybe_executed is expected, outcome
    if case.retry_after_s is not None:
        assert outcome.retry_after_s == pytest.approx(case.retry_after_s), outcome


@each
@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b"<html>a captive portal</html>"), (418, b"\x00\xff not json"), (400, b"{}")],
    ids=["200-html", "418-binary", "400-empty-object"],
)
async def test_a_body_that_is_not_the_providers_is_classified_never_a_crash(
    service: str, integration: BaseIntegration, status: int, body: bytes
) -> None:
    run = await run_case(
        service,
        integration,
        lambda fake: fake.fail_next(status, body=body, headers={"Content-Type": "text/html"}),
    )
    assert run.outcome.category is not OutcomeCategory.INTERNAL, run.outcome
    if status >= 400:
        assert run.outcome.category in (
            OutcomeCategory.PERMANENT,
            OutcomeCategory.INVALID_CONFIG,
        ), run.outcome


@each
def test_every_integration_lists_configs_its_schema_refuses(
    service: str, integration: BaseIntegration
) -> None:
    meta = integration.metadata
    assert subject_of(service).invalid_configs.get(meta.id), (
        f"integrations/{service}/testing.py: CONTRACT.invalid_configs[{meta.id!r}] is empty"
    )


REFUSED = [
    pytest.param(integration, config, words, id=f"{integration.metadata.id}-{index}")
    for service, integration in INTEGRATIONS
    for index, (config, words) in enumerate(
        subject_of(service).invalid_configs.get(integration.metadata.id, ())
    )
]


@pytest.mark.parametrize(("integration", "config", "words"), REFUSED)
def test_configs_the_schema_refuses_name_what_is_wrong(
    integration: BaseIntegration, config: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        integration.metadata.validate_config(config)
    assert words in caught.value.message, (config, caught.value.message)


@each
async def test_a_rejected_credential_reaches_no_log_line(
    service: str, integration: BaseIntegration, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's request lines included
    caplog.handler.addFilter(SecretRedactingFilter())
    run = await run_case(service, integration, lambda fake: fake.fail_next(401))
    assert run.outcome.category is OutcomeCategory.AUTH
    assert run.secrets.redact(caplog.text) == caplog.text, "a credential reached a log line"
