"""The LMDB knowledge base: artifacts, runs, tasks, escalations, the journal and indexes."""

from handoffs.store.batch import UNKNOWN, Batch, IdempotencyRecord
from handoffs.store.errors import (
    InvalidKey,
    StoreClosed,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreIOError,
    StoreLocked,
    StorePathError,
)
from handoffs.store.kb import ArtifactIndex, Page, Store, StoreOptions, StoreStatistics

__all__ = [
    "UNKNOWN",
    "ArtifactIndex",
    "Batch",
    "IdempotencyRecord",
    "InvalidKey",
    "Page",
    "Store",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreIOError",
    "StoreLocked",
    "StoreOptions",
    "StorePathError",
    "StoreStatistics",
]
