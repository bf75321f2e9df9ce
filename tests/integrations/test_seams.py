"""Every provider request of a built-in integration leaves through one of the two HTTP seams.

The idempotency claim is taken in those seams (processors/send_gate.py), so an HTTP client built
anywhere else in an integration would call a provider with no claim at all. Only the seams and
the credentials API's own client (not a provider call) may build one. And an HTTP action sends
through ``HttpIntegration.call`` (integrations/provider.py: typed errors, Retry-After, scrubbing,
and the place egress policy is enforced), never through its client directly; only an SDK is
handed the client itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integrations.discovery import discover
from integrations.http import HttpIntegration
from integrations.registry import IntegrationRegistry

PACKAGE = Path(__file__).resolve().parents[2] / "integrations"
SEAMS = {"http.py", "telegram/aiohttp_request.py", "credentials/sources/http.py"}
DIRECT = re.compile(r"\.http\.(get|post|put|patch|delete|request|send|stream)\s*\(")
CLIENTS = re.compile(r"\b(AsyncClient|ClientSession|TCPConnector|urlopen|HTTPConnection)\s*\(")


def test_no_integration_builds_its_own_http_client() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() not in SEAMS and not _is_test_double(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if CLIENTS.search(line)
    ]
    assert offenders == [], "provider calls must go through integrations/http.py's clients"


def _is_test_double(path: Path) -> bool:
    return path.name.startswith("testing") or path.name == "testing.py"


def test_http_actions_send_through_the_provider_seam() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() not in SEAMS and not _is_test_double(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DIRECT.search(line)
    ]
    assert offenders == [], "send with HttpIntegration.call (integrations/provider.py)"


def test_every_built_in_integration_sends_through_the_seams() -> None:
    registry = IntegrationRegistry()
    discover(registry, entry_point_group=None)
    assert len(registry.ids()) >= 15
    claimed_before = [key for key in registry.ids() if not registry.get(key).calls_through_seams]
    assert claimed_before == []


async def test_a_seed_style_integration_reads_no_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = IntegrationRegistry()
    discover(registry, entry_point_group=None)
    http = [i for i in map(registry.get, registry.ids()) if isinstance(i, HttpIntegration)]
    assert len(http) >= 12
    for integration in http:
        name = f"ACTIONSTREAM_INTEGRATIONS__ENDPOINTS__{integration.service.upper()}__BASE_URL"
        monkeypatch.setenv(name, "http://127.0.0.1:9/elsewhere")
        standalone = type(integration)()  # not bound to a worker's resources
        try:
            assert str(standalone.http.base_url).rstrip("/") == integration.default_base_url.rstrip(
                "/"
            ), integration.metadata.id
        finally:
            await standalone.aclose()
