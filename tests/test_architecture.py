"""The layout rules of docs/development.md, read from the imports of every module.

Rooms point down (router/jobs → service → the due engine → repository → schemas → rules),
areas point one way (the order below), the foundation imports no area, pure rules do no
I/O, and there is no import cycle. A new module is checked the day it is added.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "amss"

# Earlier areas never import later ones (except the due engine, see below).
AREAS = (
    "orgs",
    "users",
    "auth",
    "fleet",
    "due",
    "programs",
    "parts",
    "compliance",
    "tasks",
    "imports",
    "webhooks",
    "audit",
    "reports",
    "health",
    "grpc",
)
# Shared by every area; imports no area.
FOUNDATION_PACKAGES = {"kit", "db", "events"}
# Identity primitives (the caller, roles, tokens, password hashing, the request's
# dependencies) and the journal are foundation too: every area stands on them.
FOUNDATION_MODULES = {
    "amss",
    "amss.config",
    "amss.auth.rules",
    "amss.auth.tokens",
    "amss.auth.passwords",
    "amss.auth.deps",
    "amss.audit.journal",
}
# The composition roots: may import anything, imported by nothing but each other.
ROOTS = {"amss.app", "amss.cli", "amss.worker", "amss.demo"}
# The due engine: between repositories and services, usable by every service and job.
ENGINE = {"engine", "generator", "limits", "forecast", "scan", "records"}
RANKS = {
    "rules": 0,
    "sql": 0,
    "schemas": 1,
    # Documents drawn from a report's view (reports/pdf.py, reports/timeline.py): pure.
    "pdf": 1,
    "timeline": 1,
    "repository": 2,
    "status": 2,
    "tokens": 2,
    "passwords": 2,
    "guard": 2,
    **dict.fromkeys(ENGINE, 3),
    "service": 4,
    "router": 5,
    "jobs": 5,
    "deps": 5,
}
# The gRPC transport: every module translates, as a router does (its code generated from
# the proto imports only the protobuf and grpc libraries).
TRANSPORT_AREAS = {"grpc"}
IO_LIBRARIES = {"sqlalchemy", "httpx", "httpx2", "fastapi", "psycopg", "redis", "procrastinate"}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def parts(self) -> list[str]:
        return self.name.split(".")

    @property
    def foundation(self) -> bool:
        return self.name in FOUNDATION_MODULES or (
            len(self.parts) > 1 and self.parts[1] in FOUNDATION_PACKAGES
        )

    @property
    def area(self) -> str:
        return self.parts[1]

    @property
    def rank(self) -> int:
        if self.area in TRANSPORT_AREAS:
            return RANKS["router"]
        return RANKS[self.parts[-1]]


def _modules() -> dict[str, Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(SRC).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if "migrations" in parts:
            continue
        name = ".".join(parts)
        found[name] = Module(name, path)
    return found


MODULES = _modules()


def _imports(module: Module) -> Iterator[tuple[str, int]]:
    """Every amss module (and third-party top-level package) it imports, with the line."""
    tree = ast.parse(module.path.read_text(), str(module.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield (candidate if candidate in MODULES else node.module), node.lineno


def _amss_imports(module: Module) -> Iterator[tuple[Module, int]]:
    for name, line in _imports(module):
        if name in MODULES and name != module.name:
            yield MODULES[name], line


def _allowed(importer: Module, imported: Module) -> bool:
    if imported.name in ROOTS:
        return importer.name in ROOTS
    if importer.name in ROOTS or imported.foundation:
        return True
    if importer.foundation:
        return False
    if imported.area == importer.area:
        return imported.rank <= importer.rank
    if imported.area == "due" and imported.rank == RANKS["engine"]:
        return importer.rank >= RANKS["service"]
    return AREAS.index(imported.area) < AREAS.index(importer.area) and (
        imported.rank <= importer.rank
    )


def test_every_module_has_a_known_room() -> None:
    for module in MODULES.values():
        if module.name in ROOTS or module.foundation or len(module.parts) == 2:
            continue
        assert module.area in AREAS, f"{module.name}: area not in the order of this test"
        if module.area in TRANSPORT_AREAS:
            continue
        assert module.parts[-1] in RANKS, f"{module.name}: room not in RANKS of this test"


def test_imports_point_down_and_areas_one_way() -> None:
    wrong = [
        f"{importer.name}:{line} imports {imported.name}"
        for importer in MODULES.values()
        if len(importer.parts) > 2 or importer.name in ROOTS or importer.foundation
        for imported, line in _amss_imports(importer)
        if not _allowed(importer, imported)
    ]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.endswith((".rules", ".sql"))))
def test_pure_rules_do_no_io(name: str) -> None:
    module = MODULES[name]
    io = sorted(
        imported for imported, _ in _imports(module) if imported.split(".")[0] in IO_LIBRARIES
    )
    assert io == [], f"{name} imports {io}"


def test_no_import_cycles() -> None:
    graph = {name: {m.name for m, _ in _amss_imports(module)} for name, module in MODULES.items()}
    visiting: set[str] = set()
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        if name in visiting:
            cycles.append([*trail[trail.index(name) :], name])
            return
        visiting.add(name)
        for nxt in sorted(graph.get(name, ())):
            # A package's __init__ importing its own modules is not a cycle between areas.
            if name == ".".join(nxt.split(".")[:-1]):
                continue
            visit(nxt, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


# Aircraft status has one writer (fleet/status.py): no other statement sets it.
_STATUS_WRITE = re.compile(r"UPDATE\s+aircraft\b[^;\"]*?\bSET\b[^;\"]*?\bstatus\s*=", re.I | re.S)


def test_only_the_fleet_status_writer_sets_aircraft_status() -> None:
    writers = sorted(
        module.name
        for module in MODULES.values()
        if _STATUS_WRITE.search(module.path.read_text())
        or re.search(
            r"AircraftRepository\([^)]*\)\.(update|patch)\([^)]*status", module.path.read_text()
        )
    )
    assert writers == ["amss.fleet.status"]
