"""The README's catalogue table is the registry's: every built-in integration, its category and
its side-effect policy, so a new or changed integration cannot leave the README behind."""

from __future__ import annotations

import re

from infra import REPO
from integrations.discovery import discover
from integrations.registry import IntegrationRegistry

ROW = re.compile(
    r"^\| (?P<category>[a-z]+) \| [^|]+ \| `(?P<id>[a-z0-9_]+)` \| `(?P<side>[a-z_]+)` \|"
)


def readme_catalogue() -> dict[str, tuple[str, str]]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Catalogue\n", 1)[1].split("\n## ", 1)[0]
    return {
        m["id"]: (m["category"], m["side"])
        for m in (ROW.match(line) for line in section.splitlines())
        if m is not None
    }


def test_the_readme_lists_every_integration_with_its_category_and_side_effect() -> None:
    registry = IntegrationRegistry()
    report = discover(registry, entry_point_group=None)
    assert not report.unavailable
    registered = {
        integration_id: (meta.category.value, meta.side_effect.value)
        for integration_id in registry.ids()
        for meta in [registry.get(integration_id).metadata]
    }
    assert readme_catalogue() == registered
