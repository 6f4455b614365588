"""The crypto circle stays broken: the outbox catches the gateway's errors without importing
the gateway, and the gateway answers key requests without importing the crypto module back.
(No cycle at all and no import inside a function: ``test_layers``.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(relative: str) -> set[str]:
    """Every module named in an import of the file, wherever the import sits."""
    tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_matrix_layer_outbox_imports_the_errors_not_the_gateway():
    imported = imports_of("bot/runtime/outbox.py")
    assert "bot.matrix.errors" in imported
    assert "bot.matrix.gateway" not in imported


def test_matrix_layer_gateway_answers_key_requests_without_the_crypto_module():
    gateway = imports_of("bot/matrix/gateway.py")
    assert "bot.matrix.key_requests" in gateway
    assert "bot.matrix.crypto" not in gateway
    assert "bot.matrix.crypto" not in imports_of("bot/matrix/key_requests.py")


def test_matrix_layer_key_files_and_errors_import_nothing_of_the_bot():
    for relative in ("bot/matrix/key_files.py", "bot/matrix/errors.py"):
        assert not {name for name in imports_of(relative) if name.startswith("bot.")}
