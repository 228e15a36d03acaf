"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from handoffs.store import Store


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
