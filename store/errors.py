"""Errors raised by ``handoffs.store``. LMDB's own errors never leave the package.

Each is a :class:`~handoffs.messages.errors.HandoffsError` and says whose fault it is
(:class:`~handoffs.messages.errors.CallerError` or
:class:`~handoffs.messages.errors.RuntimeFault`). The tree::

    StoreError
    ├── StorePathError   the data directory cannot hold a store: it is a file, say   (caller)
    ├── StoreClosed      the store was closed by this process                         (caller)
    ├── InvalidKey       a key or key part is not a valid id or name                  (caller)
    ├── StoreLocked      another process holds the store (names the path and its PID) (runtime)
    ├── StoreFull        the map reached its configured cap; nothing was written      (runtime)
    ├── StoreCorrupt     stored bytes do not decode (names the DB, key and field)     (runtime)
    └── StoreIOError     any other LMDB failure (disk, readers, ...)                  (runtime)
"""

from __future__ import annotations

import os
from pathlib import Path

from handoffs.messages.errors import CallerError, HandoffsError, RuntimeFault

__all__ = [
    "InvalidKey",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreIOError",
    "StoreLocked",
    "StorePathError",
]


class StoreError(HandoffsError):
    """Root of every error the knowledge base raises."""


class StoreLocked(StoreError, RuntimeFault):
    """Another process has the store open for writing."""

    def __init__(self, path: str, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"store {path} is locked by {holder}; only one process may open it")
        self.path = path
        self.pid = pid


class StorePathError(StoreError, CallerError):
    """The data directory's path cannot hold a store (it is a file, or a parent is)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"cannot open store {path}: {problem}")
        self.path = path


def no_store_at(path: str | os.PathLike[str]) -> StorePathError:
    """The error for a directory that holds no store; one that holds orchestrator shards
    (``serve --shards``: ``shard-0``, ...) says to name a shard's directory instead."""
    root = Path(path)
    problem = "no store there (no data.mdb)"
    if (root / "shard-0").is_dir():
        problem += (
            f"; it holds orchestrator shards: give one shard's directory, such as "
            f"{root / 'shard-0'}"
        )
    return StorePathError(str(root), problem)


class StoreClosed(StoreError, CallerError):
    """The store was closed; open it again to use it."""


class StoreFull(StoreError, RuntimeFault):
    """A commit needs more space than ``max_map_size`` allows. Nothing of it was written."""

    def __init__(self, map_size: int, max_map_size: int) -> None:
        super().__init__(
            f"store is full: map size {map_size} bytes reached the cap of {max_map_size} bytes; "
            "raise max_map_size or free space"
        )
        self.map_size = map_size
        self.max_map_size = max_map_size


class InvalidKey(StoreError, CallerError):
    """A key is not a valid id or name, so it must not reach LMDB."""


class StoreCorrupt(StoreError, RuntimeFault):
    """Bytes read from the store do not decode into their record type."""

    def __init__(self, db: str, key: bytes, message: str) -> None:
        super().__init__(f"corrupt record in {db!r} at key {key!r}: {message}")
        self.db = db
        self.key = key


class StoreIOError(StoreError, RuntimeFault):
    """LMDB failed for a reason that is not ours to fix (disk, readers table, ...)."""
