"""Each package's ``__all__`` is honest: sorted, complete, and naming only what exists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

#: Add handoffs.actors and handoffs here once they settle.
PACKAGES = [
    "handoffs",
    "handoffs.actors",
    "handoffs.llm",
    "handoffs.messages",
    "handoffs.store",
    "handoffs.testing",
]


def isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def modules() -> list[str]:
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        found.append(name)
        found.extend(
            f"{name}.{info.name}"
            for info in pkgutil.iter_modules(package.__path__)
            if info.name != "__main__"  # importing it runs the command line
        )
    return found


def public_members(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and type(value).__module__ != "__future__"  # `from __future__ import annotations`
    }


@pytest.mark.parametrize("name", modules())
def test_all_is_sorted_and_names_what_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=isort_key)
    assert len(set(exported)) == len(exported)
    assert [n for n in exported if not hasattr(module, n)] == []


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_member_of_a_package_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(public_members(module) - set(module.__all__)) == []


# The data packages re-export everything; actors and handoffs keep their wiring
# (protocol messages, orchestrator parts, the daemon) in their modules.
@pytest.mark.parametrize("name", ["handoffs.messages", "handoffs.store"])
def test_the_package_exports_what_its_modules_export(name: str) -> None:
    package = importlib.import_module(name)
    submodules = [n for n in modules() if n.startswith(f"{name}.")]
    # Names a module keeps for its package's siblings (check_id, ...) may stay unexported.
    missing = {
        f"{sub}.{member}"
        for sub in submodules
        for member in importlib.import_module(sub).__all__
        if member not in package.__all__
    }
    allowed = {
        "handoffs.store.batch.check_id",
        "handoffs.store.batch.check_idempotency_key",
        "handoffs.store.batch.check_name",
    }
    assert sorted(missing - allowed) == []


def test_only_the_handoffs_namespace_is_installed(tmp_path: Path) -> None:
    # Run from tmp_path so the repository root, where store/ and messages/ live, is not on
    # sys.path: only the install can make these imports work.
    code = """
import importlib, sys
for name in ("store", "messages", "actors", "examples"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        pass
    else:
        sys.exit(f"{name} is importable")
import handoffs.messages, handoffs.store
print(handoffs.store.Store.__module__, handoffs.messages.Handoff.__module__)
"""
    result = subprocess.run(
        [sys.executable, "-I", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["handoffs.store.kb", "handoffs.messages.handoff"]
