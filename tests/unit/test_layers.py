"""The layer contracts of docs/dev/architecture.md, checked on every import in the code
(inside functions and under TYPE_CHECKING too: a hidden circle is still a circle)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")
FEATURES = ("agenda", "digest", "help", "polls", "privacy", "proposals", "settings")
# Runtime modules a feature may use besides the kit: the context it handles events in and the
# services the kit hands it (commands, rendering, timers, the outbox, the clock, settings).
FEATURE_RUNTIME = {
    "bot.runtime.kit",
    "bot.runtime.context",
    "bot.runtime.router",
    "bot.runtime.messages",
    "bot.runtime.timers",
    "bot.runtime.outbox",
    "bot.runtime.clock",
    "bot.runtime.config",
    "bot.runtime.room_settings",
}
# The digest reports on the other features: it reads poll results through their module.
FEATURE_READS = {"handlers.digest": {"handlers.polls.results"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
}


def imports(module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import of ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name in MODULES and name != module:
                yield name, node.lineno, id(node) in nested


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(rule: Callable[[str, str], bool]) -> list[str]:
    found = []
    for module in sorted(MODULES):
        for target, line, _nested in imports(module):
            if rule(module, target):
                found.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    return found


def test_storage_imports_nothing_of_the_bot():
    assert violations(lambda m, t: within(m, "storage") and within(t, "bot", "handlers")) == []


def test_text_helpers_import_nothing_above_them():
    assert violations(lambda m, t: within(m, "bot.text") and not within(t, "bot.text")) == []


def test_the_matrix_layer_imports_no_feature_and_no_tool():
    assert (
        violations(lambda m, t: within(m, "bot.matrix") and within(t, "handlers", "bot.tools"))
        == []
    )


def test_the_runtime_imports_features_only_in_the_builder():
    def rule(module: str, target: str) -> bool:
        if not within(module, "bot.runtime") or module == "bot.runtime.builder":
            return False
        return within(target, "handlers", "bot.tools")

    assert violations(rule) == []


def test_features_use_the_kit_text_storage_and_shared_helpers_only():
    def rule(module: str, target: str) -> bool:
        if not within(module, "handlers"):
            return False
        if within(target, "bot.runtime"):
            return target not in FEATURE_RUNTIME
        if within(target, "bot.matrix", "bot.tools"):
            return True
        if within(target, "handlers") and not within(target, "handlers.shared"):
            own = ".".join(module.split(".")[:2])
            return not within(target, own) and target not in FEATURE_READS.get(own, set())
        return False

    assert violations(rule) == []


def test_shared_helpers_import_no_feature():
    features = [f"handlers.{name}" for name in FEATURES]

    def rule(module: str, target: str) -> bool:
        return within(module, "handlers.shared") and within(target, *features)

    assert violations(rule) == []


@pytest.mark.parametrize(
    "package", ["bot.matrix", "bot.runtime", "bot.text", "handlers", "storage"]
)
def test_no_import_is_hidden_inside_a_function(package: str):
    """Imports inside functions are how circles hide; only the tools load lazily (the CLI
    imports a subcommand's code when it runs)."""
    found = [
        f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}"
        for module in sorted(MODULES)
        if within(module, package)
        for target, line, nested in imports(module)
        if nested
    ]
    assert found == []


def test_no_import_cycles():
    graph = {module: {target for target, _, _ in imports(module)} for module in MODULES}
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_contracts_see_the_code():
    """The checks above read real modules: a broken path would make them pass vacuously."""
    assert {"bot.runtime.kit", "bot.runtime.builder", "handlers.digest.build"} <= MODULES.keys()
    targets = {target for target, _, _ in imports("handlers.digest.build")}
    assert "handlers.polls.results" in targets
