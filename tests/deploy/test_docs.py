"""docs/operations.md and docs/architecture.md keep their promises: every failure mode is
backed by tests that exist or by a written manual check, every test the guide names
exists, and the architecture has its three diagrams."""

from __future__ import annotations

import re

from tests.deploy.tools import ROOT

OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def named_test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    source = ROOT / path
    if not source.exists():
        return False
    return re.search(rf"^(async )?def {re.escape(name)}\(", source.read_text(), re.M) is not None


def references(text: str) -> list[str]:
    """`tests/a.py::name` and the shorthand `::other` (same file as the one before)."""
    found, current = [], ""
    for match in re.finditer(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", text):
        path, name = match.groups()
        if path:
            current = path
        if name and current:
            found.append(f"{current}::{name}")
    return found


def test_every_named_test_exists() -> None:
    named = references(OPERATIONS)
    assert len(named) >= 8
    missing = [reference for reference in named if not named_test_exists(reference)]
    assert missing == []


def test_every_failure_mode_is_backed_by_a_test_or_a_manual_check() -> None:
    section = OPERATIONS.split("## Failure modes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| **")]
    modes = {re.match(r"\| \*\*(.+?)\*\*", row).group(1): row for row in rows}  # type: ignore[union-attr]
    assert set(modes) == {
        "Database down",
        "Redis down",
        "Worker killed",
        "Webhook receiver down or hanging",
        "Disk full",
    }
    for mode, row in modes.items():
        evidence = row.rstrip(" |").rsplit(" | ", 1)[1]
        tests = references(evidence)
        assert tests or evidence.startswith("Manual check:"), mode
        assert all(named_test_exists(reference) for reference in tests), mode


def test_the_architecture_has_its_diagrams() -> None:
    diagrams = re.findall(r"```mermaid\n(\w+)", ARCHITECTURE)
    assert diagrams == ["flowchart", "sequenceDiagram", "sequenceDiagram"]
    for heading in ("## Components", "## Request flow", "## Event flow"):
        assert heading in ARCHITECTURE


def test_the_readme_links_the_guides() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "(docs/operations.md)" in readme
    assert "(docs/architecture.md)" in readme
