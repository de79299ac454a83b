"""The room map of docs/architecture.md holds in the code: no stage imports the demo
simulator (only the CLI's ``demo`` command and the package's lazy exports reach it), no
import cycle between modules, and the evaluation root keeps at most 10 modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sampling", "evaluation", "wuye_common")
#: the modules allowed to reach the demo simulator (CLI command, lazy public exports)
DEMO_USERS = {"evaluation.cli", "evaluation"}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules it imports (at the top or inside functions; strings
    of the lazy-export tables count too)."""

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                targets = [node.value] if node.value.startswith("evaluation.demo") else []
            for target in targets:
                found = resolve(target) if target.split(".")[0] in PACKAGES else ""
                if found and found != mod and not mod.startswith(found + "."):
                    graph[mod].add(found)
    return graph


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _imports(_modules())


def test_no_stage_imports_the_demo(graph: dict[str, set[str]]) -> None:
    users = {
        mod
        for mod, targets in graph.items()
        if not mod.startswith("evaluation.demo")
        and any(t == "evaluation.demo" or t.startswith("evaluation.demo.") for t in targets)
    }
    assert users <= DEMO_USERS, sorted(users - DEMO_USERS)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    names = sorted(set(graph) | {b for bs in graph.values() for b in bs})
    at = {name: i for i, name in enumerate(names)}
    edges = np.array([(at[a], at[b]) for a, bs in graph.items() for b in bs]).reshape(-1, 2)
    adjacency = csr_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(names), len(names))
    )
    _, label = connected_components(adjacency, directed=True, connection="strong")
    sizes = np.bincount(label)
    cycles = [
        [n for n, lab in zip(names, label, strict=True) if lab == c]
        for c in np.flatnonzero(sizes > 1)
    ]
    assert not cycles


def test_evaluation_root_keeps_at_most_ten_modules() -> None:
    root_modules = sorted(p.name for p in (ROOT / "evaluation").glob("*.py"))
    assert len(root_modules) <= 10, root_modules
