"""Fitness tests: the package keeps the shape issue 13 sets, measured on its import graph.

The graph is grimp's (the one `lint-imports` checks): every module of ``bridge`` and each
import between two of them, those under ``if TYPE_CHECKING:`` included (they couple the
modules for a reader as much as any other). Targets: no module over 300 lines, no import
cycle outside the simulator (nor inside it, since its port opened the one it had), at most
7 levels of imports between the package's units (its subpackages and root modules), the
call lifecycle class under 200 lines, and the layer contracts in pyproject.toml kept.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

import bridge

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bridge"
SIM = "bridge.sim"
MAX_MODULE_LINES = 300
MAX_LEVELS = 7
MAX_CALL_CLASS_LINES = 199  # "under 200"
LIFECYCLE = PACKAGE / "call" / "lifecycle.py"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # the checkout under test, not an installed copy elsewhere
    assert Path(bridge.__file__).resolve().parent == PACKAGE
    return grimp.build_graph("bridge", cache_dir=None)


def in_sim(module: str) -> bool:
    return module == SIM or module.startswith(SIM + ".")


def imports_of(graph: grimp.ImportGraph, module: str, among: set[str]) -> list[str]:
    return sorted(m for m in graph.find_modules_directly_imported_by(module) if m in among)


def import_cycles(graph: grimp.ImportGraph, modules: Iterable[str]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan): each is one or more
    import cycles, every module in it reaching every other."""
    among = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in imports_of(graph, v, among):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(among):
        if module not in index:
            visit(module)
    return groups


def cycle_through(graph: grimp.ImportGraph, group: list[str]) -> str:
    """One cycle of a group, as a readable chain: a -> b -> ... -> a."""
    first = group[0]
    back = min(
        (chain for m in graph.find_modules_that_directly_import(first) if m in group
         if (chain := graph.find_shortest_chain(first, m)) is not None),
        key=len,
    )
    return " -> ".join([*back, first])


def longest_chain(graph: grimp.ImportGraph, modules: set[str]) -> list[str]:
    """The longest chain of imports among ``modules``, as the modules along it. A module
    that imports none of them is on level 1, any other one level above the highest module
    it imports; an import cycle counts as one level (the cycle test reports it)."""
    groups = import_cycles(graph, modules)
    node = {m: m for m in modules} | {m: g[0] for g in groups for m in g}
    members = {g[0]: g for g in groups}
    best: dict[str, list[str]] = {}  # node -> its longest chain down, the node first

    def chain_from(n: str) -> list[str]:
        if n in best:
            return best[n]
        best[n] = [n]  # guards the walk; replaced below
        below = {node[w] for m in members.get(n, [n]) for w in imports_of(graph, m, modules)}
        below.discard(n)
        longest = max((chain_from(b) for b in sorted(below)), key=len, default=[])
        best[n] = [n, *longest]
        return best[n]

    chains = [chain_from(n) for n in sorted(set(node.values()))]
    longest = max(chains, key=len, default=[])
    return ["{" + ", ".join(members[n]) + "}" if n in members else n for n in longest]


def test_no_module_over_300_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50, "the package's modules were not found"
    over = sorted(((n, p) for p, n in sizes.items() if n > MAX_MODULE_LINES), reverse=True)
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them): " + ", ".join(
        f"{path} ({n})" for n, path in over
    )


def test_no_import_cycle_outside_the_simulator(graph: grimp.ImportGraph) -> None:
    groups = [g for g in import_cycles(graph, graph.modules) if not all(map(in_sim, g))]
    assert not groups, "import cycles outside bridge/sim:\n" + "\n".join(
        f"  {cycle_through(graph, g)}   (cycle group: {', '.join(g)})" for g in groups
    )


def test_the_simulator_has_no_import_cycle_either(graph: grimp.ImportGraph) -> None:
    """Its parts see the call through ``bridge/sim/port.py``, not the session itself."""
    groups = import_cycles(graph, filter(in_sim, graph.modules))
    assert not groups, "import cycles in bridge/sim:\n" + "\n".join(
        f"  {cycle_through(graph, g)}   (cycle group: {', '.join(g)})" for g in groups
    )


def unit_of(module: str) -> str:
    """The unit a reader sees at the top of the package: a subpackage (`bridge.audio`) or
    a module at its root (`bridge.errors`)."""
    return ".".join(module.split(".")[:2])


def test_at_most_7_levels_of_imports(graph: grimp.ImportGraph) -> None:
    """Levels: the number of units on the longest chain of imports between the package's
    units outside ``bridge/sim`` (a unit is a subpackage or a root module; one importing
    none of the others is level 1). A layer's own modules building on each other (the DSP
    in `bridge/audio`) are inside one unit: what a newcomer climbs is the units."""
    units = {unit_of(m) for m in graph.modules if not in_sim(m) and m != "bridge"}
    edges = {
        (unit_of(m), unit_of(w))
        for m in graph.modules if not in_sim(m) and m != "bridge"
        for w in graph.find_modules_directly_imported_by(m)
        if not in_sim(w) and w != "bridge" and unit_of(w) != unit_of(m)
    }
    below: dict[str, list[str]] = {u: sorted(w for v, w in edges if v == u) for u in units}
    best: dict[str, list[str]] = {}

    def chain_from(u: str, seen: tuple[str, ...] = ()) -> list[str]:
        assert u not in seen, "units import each other in a cycle: " + " -> ".join((*seen, u))
        if u not in best:
            best[u] = [u, *max((chain_from(w, (*seen, u)) for w in below[u]), key=len,
                               default=[])]
        return best[u]

    chain = max((chain_from(u) for u in sorted(units)), key=len)
    assert len(chain) > 1, "no imports found between the package's units"
    assert len(chain) <= MAX_LEVELS, (
        f"{len(chain)} levels of imports (at most {MAX_LEVELS}), the longest chain:\n  "
        + "\n  -> ".join(chain)
    )


def test_the_module_chain_is_reported(graph: grimp.ImportGraph) -> None:
    """Not a target: the longest chain between single modules, shown with `-s`, so a
    reader can watch it (12 at the restructure, most of it the DSP inside bridge/audio)."""
    client = {m for m in graph.modules if not in_sim(m)}
    chain = longest_chain(graph, client)
    print(f"\nlongest module chain ({len(chain)}): " + " -> ".join(chain))
    assert len(chain) > 1


def test_call_lifecycle_class_under_200_lines() -> None:
    tree = ast.parse(LIFECYCLE.read_text(encoding="utf-8"), filename=str(LIFECYCLE))
    found = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Call"]
    assert found, f"no class Call in {LIFECYCLE.relative_to(ROOT)}"
    cls = found[0]
    first = min([cls.lineno, *(d.lineno for d in cls.decorator_list)])
    assert cls.end_lineno is not None
    lines = cls.end_lineno - first + 1
    assert lines <= MAX_CALL_CLASS_LINES, (
        f"class Call in {LIFECYCLE.relative_to(ROOT)} is {lines} lines "
        f"(lines {first}-{cls.end_lineno}); it must stay under 200"
    )


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: install the test extra"
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"lint-imports failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )
