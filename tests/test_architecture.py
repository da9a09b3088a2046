"""The plan of the house, checked: floors without upward imports, no cycles, imports at the top.

`lint-imports` (the contracts in pyproject.toml, run by `make lint`) keeps the floors. This test adds
what a layers contract cannot see: a cycle between two modules of the same floor, and imports hidden
inside functions (which hide the real graph; ruff's PLC0415 flags new ones).
"""

from __future__ import annotations

import copy
import tomllib

import grimp
import pytest

from tests.conftest import ROOT

PACKAGES = ("schemas", "runtime", "connectors", "agents", "sinks", "pipeline")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_two_modules_import_each_other(graph: grimp.ImportGraph) -> None:
    """No import cycle, not even through an import made inside a function."""
    assert _cycles(graph) == []


def test_the_cycle_check_can_fail(graph: grimp.ImportGraph) -> None:
    """A cycle added to a copy of the graph is reported (the check is not vacuous)."""
    broken = copy.deepcopy(graph)
    broken.add_import(importer="schemas.topics", imported="pipeline.cli")
    assert any({"schemas.topics", "pipeline.cli"} <= set(c) for c in _cycles(broken))


def test_the_floors_are_the_ones_the_readme_draws() -> None:
    """The layers contract names every top-level package, top floor first, as README 'Architecture' does."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(config["root_packages"]) == set(PACKAGES)
    [floors] = [c for c in config["contracts"] if c["type"] == "layers"]
    named = [p.strip() for layer in floors["layers"] for p in layer.split("|")]
    assert sorted(named) == sorted(PACKAGES)
    readme = (ROOT / "README.md").read_text()
    positions = [readme.index(f"`{p}/`") for p in ("pipeline", "sinks", "agents", "runtime", "schemas")]
    assert positions == sorted(positions), "README 'Architecture' lists the floors top down"
