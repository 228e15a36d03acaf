"""The store's small value types: how to open it, what ``statistics()`` returns, a page of a
listing; and the partial records that decode only what an index needs."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["ArtifactIndex", "Page", "StoreOptions", "StoreStatistics"]

ArtifactIndex = Literal["run", "stage", "kind", "tag"]


class StoreOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How to open a store.

    ``sync=False`` skips the fsync at commit: a machine crash (not a process crash) may lose
    the last commits, but the store stays consistent. ``map_size`` grows x2 up to
    ``max_map_size`` when a commit needs it.
    """

    map_size: int = 64 << 20
    max_map_size: int = 64 << 30
    sync: bool = True
    metasync: bool = True
    max_readers: int = 256


class StoreStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the store: entries per DB, map usage, commit counters."""

    path: str
    entries: dict[str, int]
    map_size: int
    map_used: int
    commits: int
    batches: int
    resizes: int
    last_seq: int


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing; pass ``cursor`` back to get the next (``None``: no more)."""

    items: list[Any]
    cursor: str | None = None


class _StateOnly(msgspec.Struct):
    """Decodes just the ``state`` (and ``pipeline``) of a run, task or escalation record (the
    rest is skipped)."""

    state: str = ""
    pipeline: str = ""


class _IndexedOnly(msgspec.Struct):
    """Decodes just the indexed fields of a handoff record (the payload is skipped)."""

    run_id: str
    pipeline: str
    stage: str
    kind: str
    tags: list[str] = []
