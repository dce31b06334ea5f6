"""The layout rules of docs/architecture.md, checked: SQL only in repositories, no package cycles, a lean SDK."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys
from collections import defaultdict

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "fapiaohub"
SQL_CALL = re.compile(r"\b(sa|sqlalchemy)\.(select|insert|update|delete|text)\(|\.(fetch|fetchrow|fetchval|executemany)\(")


def _modules() -> dict[str, pathlib.Path]:
    return {".".join(p.relative_to(SRC.parent).with_suffix("").parts): p for p in SRC.rglob("*.py")}


def _is_repository(name: str) -> bool:
    parts = name.split(".")
    return parts[1] == "store" or parts[-1].endswith("repository")


def test_sql_is_written_only_in_repository_modules() -> None:
    offenders = []
    for name, path in _modules().items():
        if _is_repository(name):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SQL_CALL.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == [], "SQL belongs in */repository.py or store/: " + "\n".join(offenders)


def test_the_sql_check_finds_sql() -> None:
    # the rule above would pass on any tree if its pattern found nothing
    assert SQL_CALL.search("rows = conn.execute(sa.select(invoice.c.doc))")
    assert SQL_CALL.search("await connection.fetch(_PAGE, month_id)")
    assert not SQL_CALL.search("selected = choose(options)")


def _imports() -> dict[str, set[str]]:
    """module → the fapiaohub modules it imports (at any depth of the file)."""
    graph: dict[str, set[str]] = {}
    for name, path in _modules().items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fapiaohub"):
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("fapiaohub")}
        graph[name] = found
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _package_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in _imports().items():
        for target in imported:
            if target in modules or f"{target}.__init__" in modules:
                if _package(target) != _package(module) and _package(target) != "fapiaohub":
                    graph[_package(module)].add(_package(target))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_packages_import_each_other_without_cycles() -> None:
    assert _cycles(_package_graph()) == []


def test_the_cycle_check_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("package", ["fapiaohub.client"])
def test_the_sdk_imports_only_the_shapes_and_the_domain(package: str) -> None:
    allowed = ("fapiaohub.client", "fapiaohub.shapes", "fapiaohub.domain", "fapiaohub.wire")
    outside = {f"{module} → {target}" for module, targets in _imports().items() if module.startswith(package)
               for target in targets if not target.startswith(allowed)}
    assert outside == set()


def test_an_importing_worker_does_not_load_pinyin_dictionaries() -> None:
    """pypinyin's dictionaries take 57 MB, a fifth of an import's memory: only a process that spells
    a unify entity name loads them (shapes.entity_form.name_spell)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, fapiaohub.tasks.worker, fapiaohub.cli;"
                               "print('pypinyin' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
