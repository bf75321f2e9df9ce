"""Every provider request of a built-in integration leaves through one of the two HTTP seams.

The idempotency claim is taken in those seams (processors/send_gate.py), so an HTTP client built
anywhere else in an integration would call a provider with no claim at all. Only the seams and
the credentials API's own client (not a provider call) may build one.
"""

from __future__ import annotations

import re
from pathlib import Path

from integrations.discovery import discover
from integrations.registry import IntegrationRegistry

PACKAGE = Path(__file__).resolve().parents[2] / "integrations"
SEAMS = {"http.py", "telegram/aiohttp_request.py", "credentials/sources/http.py"}
CLIENTS = re.compile(r"\b(AsyncClient|ClientSession|TCPConnector|urlopen|HTTPConnection)\s*\(")


def test_no_integration_builds_its_own_http_client() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() not in SEAMS and path.name != "fake.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if CLIENTS.search(line)
    ]
    assert offenders == [], "provider calls must go through integrations/http.py's clients"


def test_every_built_in_integration_sends_through_the_seams() -> None:
    registry = IntegrationRegistry()
    discover(registry, entry_point_group=None)
    assert len(registry.ids()) >= 15
    claimed_before = [key for key in registry.ids() if not registry.get(key).calls_through_seams]
    assert claimed_before == []
