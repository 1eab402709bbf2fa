"""The package's shape: no import cycles (function-local imports included), every module importable on its own,
every docstring example true."""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rlkit

PACKAGE = Path(rlkit.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="rlkit."))


def _source(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _resolve(name: str) -> str | None:
    """The rlkit module that ``name`` (a module, or a name inside one) denotes, or None outside rlkit."""
    while name.startswith("rlkit."):
        if name in MODULES:
            return name
        name = name.rsplit(".", 1)[0]
    return None


def rlkit_imports(module: str) -> set[str]:
    """Every rlkit module that ``module`` imports, at the top or inside a function (``from rlkit import x`` counts
    as importing ``rlkit.x`` when that is a module). A package's own submodules do not count for the package."""
    found = set()
    for node in ast.walk(ast.parse(_source(module).read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found |= {target for target in map(_resolve, names) if target}
    return {m for m in found if m != module and not m.startswith(module + ".")}


def import_graph() -> dict[str, set[str]]:
    return {module: rlkit_imports(module) for module in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_local_imports():
    graph = import_graph()
    assert "rlkit.rewards.common" in graph["rlkit.rewards.code"]  # at the top
    assert "rlkit.training" in graph["rlkit.sft"]  # inside a function
    assert "rlkit.tiny" in graph["rlkit.modeling"]  # inside a function, inside an if


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, ("rlkit has an import cycle: " + " -> ".join(cycle) + ". Move what the lower module needs "
                           "below both (rlkit.checks holds the input checks for this reason).")


def test_every_module_imports_alone():
    """Each module in a fresh interpreter state (every rlkit module dropped from sys.modules before it)."""
    script = ("import importlib, json, sys, traceback\nfailed = {}\n"
              f"for name in {MODULES!r}:\n"
              "    for loaded in [m for m in sys.modules if m == 'rlkit' or m.startswith('rlkit.')]:\n"
              "        del sys.modules[loaded]\n"
              "    try:\n        importlib.import_module(name)\n"
              "    except Exception:\n        failed[name] = traceback.format_exc(limit=3)\n"
              "print(json.dumps(failed))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True)
    failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert not failed, failed


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here; none may depend on the checkout
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {module}'s {result.attempted} docstring examples failed"
