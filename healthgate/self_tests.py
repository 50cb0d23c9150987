"""Which self-tests run which check, read from the tests' code.

A self-test runs a check when its body holds the check function itself (``run_check(checks.test_ping, target)``),
directly or through a helper or a module-level list it uses (``for fn in ALL_CHECKS``). A check's name in a
string or a comment does not count: a test that merely mentions a check proves nothing about it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def proofs(tests_dir: Path, check_names: Iterable[str]) -> dict[str, list[str]]:
    """Check name → ``path::test_function`` of every self-test that runs it."""
    names = set(check_names)
    found: dict[str, list[str]] = {}
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        symbols = _module_symbols(tree)
        where = path.relative_to(tests_dir)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                for check in sorted(_checks_reached(node, names, symbols, {node.name})):
                    found.setdefault(check, []).append(f"{where}::{node.name}")
    return found


def _module_symbols(tree: ast.Module) -> dict[str, ast.AST]:
    symbols: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            symbols[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    symbols[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            symbols[node.target.id] = node
    return symbols


def _checks_reached(node: ast.AST, names: set[str], symbols: dict[str, ast.AST], seen: set[str]) -> set[str]:
    reached: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and child.attr in names:
            reached.add(child.attr)
        elif isinstance(child, ast.Name):
            if child.id in names:
                reached.add(child.id)
            elif child.id in symbols and child.id not in seen:
                seen.add(child.id)
                reached |= _checks_reached(symbols[child.id], names, symbols, seen)
    return reached
