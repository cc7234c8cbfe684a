"""Imports run down the layers, never up, and no two packages import each other.

The layers, lowest first (docs/architecture.md):

    base (autosel/*.py) → store → pool / signals / ops / operators / bench → recipes
    → search / evaluation → worker → scheduler → service → api → cli

A module may import its own package, any package of its own layer, and any lower one.
Every module under ``autosel/`` and ``operators/`` is parsed (AST, not imported), so
function-level imports count as much as module-level ones, and so does
``importlib.import_module("<literal>")``. Exempt: imports under ``if TYPE_CHECKING:``
(annotations only; they never run). Entry points are not imports: that is how the core
finds the built-in ``operators`` package without naming it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("base",),
    ("store",),
    ("pool", "signals", "ops", "operators", "bench"),
    ("recipes",),
    ("search", "evaluation"),
    ("worker",),
    ("scheduler",),
    ("service",),
    ("api",),
    ("cli",),
)
LEVEL = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}

# Upward imports that are known and not yet fixed: (from, to) -> why. The test fails when
# one of them disappears too, so that the entry is removed with the fix.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    """One import statement: where it is and what it names."""

    where: str
    line: int
    module: str
    target: str


def unit_of(module: str) -> str | None:
    """The layer unit a dotted module belongs to; ``None`` outside the project."""
    parts = module.split(".")
    if parts[0] == "operators":
        return "operators"
    if parts[0] != "autosel":
        return None
    if len(parts) == 1 or (ROOT / "autosel" / f"{parts[1]}.py").is_file():
        return "base"  # autosel/__init__.py and the top-level modules (errors, settings...)
    return parts[1]


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT).with_suffix("")
    is_pkg = rel.name == "__init__"
    parts = rel.parts[:-1] if is_pkg else rel.parts
    return ".".join(parts), is_pkg


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from _walk(other)
            continue
        yield child
        yield from _walk(child)


def _targets(node: ast.AST, module: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            return [node.module or ""]
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return [".".join([*base, *([node.module] if node.module else [])])]
    if (
        isinstance(node, ast.Call)
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
        )
    ):
        return [node.args[0].value]
    return []


def project_imports() -> list[Edge]:
    """Every import in the project's source, as edges between modules."""
    edges = []
    files = sorted([*ROOT.glob("autosel/**/*.py"), *ROOT.glob("operators/**/*.py")])
    assert files, f"no sources under {ROOT}"
    for path in files:
        module, is_pkg = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _walk(tree):
            for target in _targets(node, module, is_pkg):
                if unit_of(target) is not None:
                    edges.append(
                        Edge(
                            str(path.relative_to(ROOT)), getattr(node, "lineno", 0), module, target
                        )
                    )
    return edges


def unit_graph(edges: list[Edge]) -> dict[tuple[str, str], list[Edge]]:
    """Edges grouped by (from unit, to unit), imports within one unit left out."""
    graph: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for e in edges:
        src, dst = unit_of(e.module), unit_of(e.target)
        assert src is not None and dst is not None
        if src != dst:
            graph[(src, dst)].append(e)
    return graph


def upward(graph: dict[tuple[str, str], list[Edge]]) -> dict[tuple[str, str], list[Edge]]:
    return {k: v for k, v in graph.items() if LEVEL[k[0]] < LEVEL[k[1]]}


def cycles(graph: dict[tuple[str, str], list[Edge]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan), each sorted."""
    succ: dict[str, list[str]] = defaultdict(list)
    for src, dst in sorted(graph):
        succ[src].append(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(LEVEL):
        if v not in index:
            visit(v)
    return sorted(found)


def _describe(graph: dict[tuple[str, str], list[Edge]]) -> str:
    return "\n".join(
        f"  {src} -> {dst}: " + ", ".join(f"{e.where}:{e.line} imports {e.target}" for e in es)
        for (src, dst), es in sorted(graph.items())
    )


@pytest.fixture(scope="module")
def graph() -> dict[tuple[str, str], list[Edge]]:
    return unit_graph(project_imports())


def test_every_package_has_a_layer() -> None:
    units = {unit_of(_module_name(p)[0]) for p in ROOT.glob("autosel/**/*.py")}
    missing = sorted(u for u in units if u not in LEVEL)
    assert not missing, f"packages with no layer (add them to LAYERS in {__file__}): {missing}"


def test_no_import_from_a_lower_layer_to_a_higher_one(
    graph: dict[tuple[str, str], list[Edge]],
) -> None:
    bad = {k: v for k, v in upward(graph).items() if k not in KNOWN_UPWARD}
    assert not bad, "imports from a lower layer to a higher one:\n" + _describe(bad)


def test_known_upward_imports_are_still_there(graph: dict[tuple[str, str], list[Edge]]) -> None:
    gone = sorted(set(KNOWN_UPWARD) - set(upward(graph)))
    assert not gone, f"fixed, remove from KNOWN_UPWARD: {gone}"


def test_no_import_cycle_between_packages(graph: dict[tuple[str, str], list[Edge]]) -> None:
    found = cycles(graph)
    involved = {k: v for k, v in graph.items() if any({*k} <= {*c} for c in found)}
    assert not found, f"import cycles between packages {found}:\n" + _describe(involved)


def test_the_walker_sees_function_level_and_dynamic_imports() -> None:
    # Guards the test itself: the imports it must not miss are found.
    src = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n    from autosel.cli import app\n"
        "def f():\n    from autosel.api import create_app\n"
        "    return importlib.import_module('operators')\n"
    )
    tree = ast.parse(src)
    found = [t for n in _walk(tree) for t in _targets(n, "autosel.store.x", False)]
    assert found == ["typing", "importlib", "autosel.api", "operators"]
