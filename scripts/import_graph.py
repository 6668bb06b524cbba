"""Figures on genseg's import graph: edges between top-level parts, cycles, function-level imports.

Run through ``scripts/lint_layers.py --graph`` (which puts the installed layout on the path),
or directly in an environment where ``genseg`` resolves to one folder. A *part* is a
top-level module or subpackage of ``genseg`` (``genseg.models``, ``genseg.plugins``...);
import statements inside functions are counted too, since they are edges all the same.
"""

from __future__ import annotations

import ast
import collections
import importlib.util
from pathlib import Path


def part(module: str) -> str:
    pieces = module.split(".")
    return ".".join(pieces[:2])


def part_edges(graph) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if part(module) != part(imported):
                edges[part(module)].add(part(imported))
    return edges


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one part (a cycle between parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def own_imports(folder: Path) -> tuple[int, int]:
    """(genseg import statements, of which inside a function) in the .py files under folder."""
    total = inside = 0
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text())
        in_functions = {
            id(node)
            for scope in ast.walk(tree)
            if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(scope)
        }
        own = [node for node in ast.walk(tree) if _is_own(node)]
        total += len(own)
        inside += sum(id(node) in in_functions for node in own)
    return total, inside


def _is_own(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").startswith("genseg")
    if isinstance(node, ast.Import):
        return any(alias.name.startswith("genseg") for alias in node.names)
    return False


def main() -> None:
    import grimp

    graph = grimp.build_graph("genseg", include_external_packages=False)
    edges = part_edges(graph)
    nodes = {part(m) for m in graph.modules}
    print(f"{len(graph.modules)} modules in {len(nodes)} parts")
    for source in sorted(edges):
        print(f"  {source} -> {', '.join(sorted(edges[source]))}")
    cycles = strongly_connected(nodes, edges)
    print(f"cycles between parts: {len(cycles)}")
    for component in cycles:
        print(f"  {len(component)} parts: {', '.join(component)}")
    package = Path(importlib.util.find_spec("genseg").origin).parent
    total, inside = own_imports(package)
    print(
        f"genseg's own import statements: {total}, inside functions: {inside} ({100 * inside / total:.0f} %)"
    )


if __name__ == "__main__":
    main()
