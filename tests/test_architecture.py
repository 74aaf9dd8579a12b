"""The package's shape, as docs/architecture.md describes it.

import-linter (run by scripts/test) checks that layers import downwards only;
these tests check what it does not: no import cycles at all (lazy imports
inside functions included), a top level a newcomer can take in at a glance,
modules small enough to read in one sitting, and no module using another's
private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

PACKAGE = "wapc_cli"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_MODULE_LINES = 450
MAX_TOP_LEVEL_MODULES = 8
#: wasmtime-py handles that the C-API fast path reads on purpose (wasmtime-py has
#: no public way to get at them); the one place outside our own code it leans on.
WASMTIME_INTERNALS = {
    "wapc_cli.engines.wasmtime_fast": {"_from_ptr", "_func", "_context"},
    "wapc_cli.engines.wasmtime_memory": {"_memory"},
}


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports are left out: they never run, so they cannot form a
    # cycle at import time; every other import, however deep in a function, counts.
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def test_strongly_connected_finds_a_cycle_and_ignores_a_chain() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]
    ]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    edges = {
        module: {
            imported for imported in graph.find_modules_directly_imported_by(module)
            # A package's __init__ re-exporting its own submodules is not a cycle of
            # design: a submodule importing a sibling goes through the file, not the
            # package, unless it says `from . import name`.
            if not module.startswith(imported + ".")
        }
        for module in graph.modules
    }
    assert strongly_connected(edges) == []


def test_top_level_has_few_modules() -> None:
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_too_long_to_read_in_one_sitting() -> None:
    long = {
        _dotted(p): n for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_imported_from_another_module() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (
                node.module or ""
            ).startswith(PACKAGE)):
                module_parts = (node.module or "").split(".")
                names = [alias.name for alias in node.names]
                if any(_private(part) for part in module_parts) or any(map(_private, names)):
                    offenders.append(f"{_dotted(path)}:{node.lineno}")
    assert offenders == []


def test_no_private_attribute_of_another_object() -> None:
    """``other._x`` outside ``self``/``cls``: a module leaning on another's internals.

    A class may touch the private state of another instance of itself (``other``
    in ``__eq__``); those few spots are listed here by name, so a new one is a
    decision, not an accident.
    """
    allowed_receivers = {"self", "cls", "other"}
    # Public despite the underscore: namedtuple's API and os._exit.
    public_by_contract = {"_replace", "_asdict", "_fields", "_make", "_exit"}
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if node.attr in public_by_contract or node.attr in WASMTIME_INTERNALS.get(
                _dotted(path), ()
            ):
                continue
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in allowed_receivers:
                continue
            if isinstance(receiver, ast.Call) and getattr(receiver.func, "id", "") == "super":
                continue
            offenders.append(f"{_dotted(path)}:{node.lineno} .{node.attr}")
    assert offenders == []
