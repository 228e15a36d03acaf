"""The decision core is pure (sans-I/O): no pykka, lmdb, threads, clock or randomness.

Read from the installed modules' source (found through importlib), so it holds for a wheel
as much as for the checkout.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PURE = [
    "decider",
    "ledger",
    "recording",
    "branches",
    "topology",
    "failures",
    "requests",
    "decision",
    "events",
    "checks",
    "pipelines",
]
FORBIDDEN = {"pykka", "lmdb", "threading", "time", "asyncio", "random", "concurrent", "os"}
#: Calls that read a clock, the environment or entropy, by their dotted name.
FORBIDDEN_CALLS = {
    "time.time",
    "time.monotonic",
    "time.perf_counter",
    "time.time_ns",
    "time.sleep",
    "datetime.now",
    "datetime.datetime.now",
    "datetime.utcnow",
    "os.urandom",
    "new_id",
}


def _tree(name: str) -> ast.Module:
    module = importlib.import_module(f"handoffs.actors.{name}")
    assert module.__file__ is not None
    return ast.parse(Path(module.__file__).read_text(encoding="utf-8"))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports under ``if TYPE_CHECKING:`` (never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            lines.update(n.lineno for stmt in node.body for n in ast.walk(stmt))
    return lines


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _forbidden_imports(tree: ast.Module) -> list[str]:
    skipped = _type_checking_only(tree)
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and node.lineno not in skipped:
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.lineno not in skipped and node.level == 0:
            imported.append(node.module or "")
    return sorted({m for m in imported if m.split(".")[0] in FORBIDDEN})


def test_the_import_check_sees_imports_anywhere_but_under_type_checking() -> None:
    source = (
        "import os.path\nfrom pykka import Future\nif TYPE_CHECKING:\n    import lmdb\n"
        "def f():\n    import time\n    return time.time()\n"
    )
    assert _forbidden_imports(ast.parse(source)) == ["os.path", "pykka", "time"]


@pytest.mark.parametrize("name", PURE)
def test_the_decision_core_imports_no_io_threads_or_clock(name: str) -> None:
    bad = _forbidden_imports(_tree(name))
    assert bad == [], f"handoffs.actors.{name} imports {bad}"


@pytest.mark.parametrize("name", PURE)
def test_the_decision_core_reads_no_clock_and_makes_no_ids_of_its_own(name: str) -> None:
    calls = [_dotted(node.func) for node in ast.walk(_tree(name)) if isinstance(node, ast.Call)]
    assert sorted({c for c in calls if c in FORBIDDEN_CALLS}) == []
