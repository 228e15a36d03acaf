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
from handoffs.store.maintenance import backup, compact, restore
from handoffs.store.retention import PruneReport, RetentionPolicy, parse_duration, prune
from handoffs.store.versions import (
    LiveVersions,
    PipelineVersion,
    VersionStage,
    read_live_versions,
    record_versions,
)

__all__ = [
    "UNKNOWN",
    "ArtifactIndex",
    "Batch",
    "IdempotencyRecord",
    "InvalidKey",
    "LiveVersions",
    "Page",
    "PipelineVersion",
    "PruneReport",
    "RetentionPolicy",
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
    "VersionStage",
    "backup",
    "compact",
    "parse_duration",
    "prune",
    "read_live_versions",
    "record_versions",
    "restore",
]
