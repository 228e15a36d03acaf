"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# `python -m pytest` from the checkout puts the checkout first on sys.path, where the folder
# `handoffs/` would shadow the installed package (a wheel, or an editable install, which maps
# `handoffs.actors` and the rest into it). The checkout goes last instead: it still serves
# what is not installed (`bench`), and the tests run against what is.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
sys.path.append(str(ROOT))
# The same for the processes the tests start (`python -m handoffs ...` from the checkout):
# Python 3.11's safe path keeps the current directory off their sys.path.
os.environ["PYTHONSAFEPATH"] = "1"
# A child that crashes (a signal) prints every thread's stack on its stderr.
os.environ["PYTHONFAULTHANDLER"] = "1"

import pytest  # noqa: E402
from handoffs.store import Store  # noqa: E402


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where the ``store`` fixture keeps its files (reopen it there)."""
    return tmp_path / "kb"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    """A fresh knowledge base on ``tmp_path``, closed after the test."""
    kb = Store.open(store_path)
    try:
        yield kb
    finally:
        kb.close()
