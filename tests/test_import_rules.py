"""The design's import rules, read from the source with ast (nothing is imported): every import statement counts,
at module level or inside a function, except those under `if TYPE_CHECKING:` (annotations only).

- encoder/ and index/ are libraries: they import nothing of server/ or clients/;
- server/domain/ is transport-agnostic: no grpc; server/http/ (REST, console) imports no grpc nor server/rpc/;
- clients/ runs on the thin and door installs: no onnxruntime, faiss, torch or openvino;
- no import cycles among the package's modules;
- no test imports conftest (helpers live in tests/helpers/).

../shared/tools/import_rules.py checks the same rules; where it is present it is run too, and must agree.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_TOOL = ROOT.parent / "shared" / "tools" / "import_rules.py"
HEAVY_RUNTIMES = {"onnxruntime", "faiss", "torch", "openvino"}


def package_folders() -> dict[str, Path]:
    """facegrid.<name> -> its source folder, as pyproject maps them (the generated protos left out)."""
    mapped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapped.items() if name != "facegrid.v1"}


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package's __init__ by the package's name)."""
    found = {}
    for package, folder in package_folders().items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imported_names(path: Path, package: str) -> set[str]:
    """The absolute names every counted import statement of a file names (`from a import b` names a and a.b)."""
    tree = ast.parse(path.read_text(), str(path))
    for_annotations = {id(inner) for node in ast.walk(tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for statement in node.body for inner in ast.walk(statement)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in for_annotations:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


@functools.cache
def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> the package's modules it imports, module -> the top-level names of the others it imports)."""
    found = modules()

    def ours(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    graph, outside = {}, {}
    for module, path in found.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names = imported_names(path, package)
        graph[module] = {target for name in names if name.startswith("facegrid.")
                         for target in [ours(name)] if target and target != module}
        outside[module] = {name.split(".")[0] for name in names if name and not name.startswith("facegrid.")}
    return graph, outside


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_annotations_only_imports_and_relative_imports_are_read_as_the_rules_say(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from facegrid.server import main\n"
                      "def f():\n    from ..index import store\n    import grpc\n")
    assert imported_names(source, "facegrid.encoder.models") == {
        "typing", "typing.TYPE_CHECKING", "facegrid.encoder.index", "facegrid.encoder.index.store", "grpc"}


def test_no_import_cycles_among_the_packages_modules():
    graph, _ = import_graph()
    assert len(graph) > 200  # the whole package was read
    assert cycles(graph) == []


def test_libraries_import_neither_the_server_nor_the_clients():
    graph, _ = import_graph()
    broken = [f"{module} -> {target}" for module, targets in graph.items()
              if module.startswith(("facegrid.encoder", "facegrid.index"))
              for target in targets if target.startswith(("facegrid.server", "facegrid.clients"))]
    assert broken == []


def test_the_domain_imports_no_grpc_and_the_clients_no_model_runtime():
    _, outside = import_graph()
    assert [m for m, names in outside.items() if m.startswith("facegrid.server.domain") and "grpc" in names] == []
    assert [f"{m}: {sorted(names & HEAVY_RUNTIMES)}" for m, names in outside.items()
            if m.startswith("facegrid.clients") and names & HEAVY_RUNTIMES] == []


def test_the_http_layer_imports_no_grpc_nor_the_grpc_servicers():
    graph, outside = import_graph()
    assert any(m.startswith("facegrid.server.http") for m in graph)  # the REST layer was read
    assert [m for m, names in outside.items() if m.startswith("facegrid.server.http") and "grpc" in names] == []
    assert [f"{m} -> {t}" for m, targets in graph.items() if m.startswith("facegrid.server.http")
            for t in targets if t.startswith("facegrid.server.rpc")] == []


def test_no_test_imports_conftest():
    importing = [path.name for path in sorted((ROOT / "tests").rglob("*.py"))
                 if any(name.split(".")[0] == "conftest" for name in imported_names(path, "tests"))]
    assert importing == []


def test_the_shared_checker_agrees():
    if not SHARED_TOOL.exists():
        pytest.skip(f"{SHARED_TOOL} is not here (it comes with ../shared); the tests above check the same rules")
    run = subprocess.run([sys.executable, str(SHARED_TOOL), str(ROOT)], capture_output=True, text=True, timeout=120)
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout[-3000:]
    assert summary["cycles"] == summary["layer_breaks"] == summary["tests_importing_conftest"] == 0
