"""The Matrix layer's imports: all at the top of its modules, and no circle through it (the
outbox needs only the errors, the gateway answers key requests without the crypto module)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")
MATRIX = "bot.matrix"


def module_files() -> dict[str, Path]:
    """Every module of the project by dotted name (migrations aside)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_time_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs, at load or in a function: only type-checking ones are left out
    (an import inside a function still makes a circle, it only hides it)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and is_type_checking(node):
            yield from run_time_imports(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            yield from run_time_imports(node)


def imported_modules(node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level or node.module is None:
        return set()
    found = set()
    for alias in node.names:
        submodule = f"{node.module}.{alias.name}"
        if submodule in modules:
            found.add(submodule)
        elif node.module in modules:
            found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = set()
        for node in run_time_imports(tree):
            graph[name] |= imported_modules(node, modules)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_matrix_layer_imports_sit_at_the_top_of_modules():
    late = []
    for path in sorted((ROOT / "bot" / "matrix").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                late += [
                    f"{path.name}:{node.lineno}"
                    for node in ast.walk(function)
                    if isinstance(node, ast.Import | ast.ImportFrom)
                ]
    assert late == []


def test_matrix_layer_imports_form_no_circle():
    through_matrix = [
        sorted(component)
        for component in circles(import_graph())
        if any(name == MATRIX or name.startswith(MATRIX + ".") for name in component)
    ]
    assert through_matrix == []


def test_matrix_layer_outbox_and_gateway_import_neither_each_other_nor_crypto():
    graph = import_graph()
    assert "bot.matrix.gateway" not in graph["bot.runtime.outbox"]
    assert "bot.matrix.errors" in graph["bot.runtime.outbox"]
    assert "bot.matrix.crypto" not in graph["bot.matrix.gateway"]
