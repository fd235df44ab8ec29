"""The product's import graph keeps its layers (docs: ARCHITECTURE's "Layers, ground up"):

    config -> features, scoring -> glue, training, inference, monitoring, lambda/<fn>
           -> stacks -> app -> local, bench, tools

* no runtime folder imports another (each Lambda function folder is a runtime of its
  own): what two of them share lives below them, in features/ or config/;
* nothing imports a layer above its own (so stacks never import local/ or bench/);
* no two modules import each other, directly or through others.

Imports are read with ``ast`` from the source (function-level imports included: they
are dependencies as well), so nothing is imported to build the graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = ("glue", "training", "inference", "monitoring", "lambda")
# Layer of each top-level folder (or module): an import may only go to the same layer
# or a lower one, and within the runtime layer only to the same folder.
LAYERS = {
    "config": 0,
    "features": 1,
    "scoring": 1,
    **dict.fromkeys(RUNTIMES, 2),
    "stacks": 3,
    "app": 4,
    "local": 5,
    "bench": 5,
    "tools": 5,
}
RUNTIME_LAYER = LAYERS["glue"]
# Known exceptions, each with the reason it stands; the test fails once one is gone, so
# the list cannot outlive the import it excuses.
EXCEPTIONS: dict[tuple[str, str], str] = {}
SKIPPED_PARTS = {"__pycache__", "node_modules", "cdk.out"}


def product_files() -> Iterator[Path]:
    """Every product module: the layered folders and app.py (tests are not product)."""
    yield ROOT / "app.py"
    for folder in LAYERS:
        if (ROOT / folder).is_dir():
            for path in sorted((ROOT / folder).rglob("*.py")):
                if not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts):
                    yield path


def module_name(path: Path) -> str:
    """Dotted name, with a Lambda function's folder as its package (``lambda/fn/x.py``
    -> ``lambda.fn.x``): Lambda loads each folder as an import root of its own."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit(module: str) -> str:
    """The folder a module belongs to for the runtime rule (``lambda.fn`` per function)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "lambda" else parts[0]


def imported(path: Path, known: set[str]) -> set[str]:
    """The product modules ``path`` imports (``from x import y`` counts as ``x.y`` when
    that is a module, else ``x``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            elif (
                name.startswith("lambda.")
                and node.module
                and f"{unit(name)}.{node.module}" in known
            ):
                # A Lambda handler imports its sibling modules by their bare names.
                stem = f"{unit(name)}.{node.module}"
            else:
                stem = node.module or ""
            candidates = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
        else:
            continue
        for candidate in candidates:
            resolved = _known_prefix(candidate, known)
            if resolved is not None and resolved != name:
                targets.add(resolved)
                break
    return targets


def _known_prefix(dotted: str, known: set[str]) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    files = list(product_files())
    known = {module_name(path) for path in files}
    return {module_name(path): imported(path, known) for path in files}


GRAPH = import_graph()


def test_the_graph_covers_the_product() -> None:
    """A sanity check that the parser sees what it should: known edges are there."""
    assert "monitoring.monitor" in GRAPH and "lambda.monitor_launcher.handler" in GRAPH
    assert "features.values" in GRAPH["features.columns"]
    assert "lambda.monitor_launcher.launch_decision" in GRAPH["lambda.monitor_launcher.handler"]
    assert "stacks.stage" in GRAPH["app"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_goes_up_or_sideways(module: str) -> None:
    here = unit(module)
    layer = LAYERS[here.split(".")[0]]
    wrong = []
    for target in sorted(GRAPH[module]):
        if (module, target) in EXCEPTIONS:
            continue
        there = unit(target)
        their_layer = LAYERS[there.split(".")[0]]
        if their_layer > layer:
            wrong.append(f"{target} (layer {their_layer} above {layer})")
        elif their_layer == RUNTIME_LAYER == layer and there != here:
            wrong.append(f"{target} (another runtime folder: {there})")
    assert not wrong, f"{module} imports " + ", ".join(wrong)


def test_every_exception_is_still_needed() -> None:
    assert [pair for pair in EXCEPTIONS if pair[1] not in GRAPH.get(pair[0], set())] == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
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


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
