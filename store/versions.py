"""Pipeline versions: the stage graph behind each ``Run.pipeline_version``, stored once.

A run records the version (a content hash of its pipeline's stage graph) it started with;
the graph itself is stored once per (pipeline, version) in the ``meta`` DB, so an operator
can see what a run's version looked like after the config changed. Beside them, per
pipeline, the version the store was last opened with.

Keys (``SEP`` between parts): ``pipeline-version SEP pipeline SEP version`` -> a msgpack
:class:`PipelineVersion`; ``pipeline-current SEP pipeline`` -> the version, as text.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import lmdb
import msgspec
from handoffs.messages import encode_msgpack, msgpack_decoder
from handoffs.store.errors import StoreCorrupt, StoreIOError, StorePathError, no_store_at
from handoffs.store.pages import SEP

if TYPE_CHECKING:
    from handoffs.store.kb import Store

__all__ = [
    "LiveVersions",
    "PipelineVersion",
    "VersionStage",
    "read_live_versions",
    "record_versions",
]

_VERSION: Final = b"pipeline-version" + SEP
_CURRENT: Final = b"pipeline-current" + SEP


class VersionStage(msgspec.Struct, frozen=True, kw_only=True):
    """One stage as a version's hash covers it: who runs it, what it outputs, where it goes."""

    name: str
    role: str
    output: str
    next: str | list[str] | None = None
    on_reject: str | None = None


class PipelineVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a pipeline's stage graph, as first recorded (unix seconds)."""

    pipeline: str
    version: str
    recorded_at: float
    start: str
    stages: list[VersionStage] = []


class LiveVersions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``handoffs versions`` shows: the stored versions, the one each pipeline was last
    opened with, and how many running or escalated runs are at each (pipeline, version);
    a version ``None`` counts runs made before runs recorded one."""

    versions: list[PipelineVersion]
    current: dict[str, str]
    live: dict[tuple[str, str | None], int]


class _RunVersion(msgspec.Struct):
    """Decodes just a run's pipeline and version (the rest is skipped)."""

    pipeline: str = ""
    pipeline_version: str | None = None


_decoder = msgpack_decoder(PipelineVersion)
_run_decoder = msgspec.msgpack.Decoder(_RunVersion)


def _version_key(pipeline: str, version: str) -> bytes:
    return _VERSION + pipeline.encode() + SEP + version.encode()


def read_versions(
    txn: lmdb.Transaction[bytes], meta: Any, pipeline: str | None
) -> list[PipelineVersion]:
    """The stored versions (of ``pipeline``, or all), by pipeline, oldest first."""
    prefix = _VERSION if pipeline is None else _VERSION + pipeline.encode() + SEP
    found: list[PipelineVersion] = []
    cursor = txn.cursor(db=meta)
    if cursor.set_range(prefix):
        for key, value in cursor:
            if not key.startswith(prefix):
                break
            try:
                found.append(_decoder.decode(value))
            except msgspec.MsgspecError as exc:
                raise StoreCorrupt("meta", key, str(exc)) from exc
    found.sort(key=lambda v: (v.pipeline, v.recorded_at, v.version))
    return found


def read_current(txn: lmdb.Transaction[bytes], meta: Any) -> dict[str, str]:
    """Each pipeline's version the store was last opened with."""
    current: dict[str, str] = {}
    cursor = txn.cursor(db=meta)
    if cursor.set_range(_CURRENT):
        for key, value in cursor:
            if not key.startswith(_CURRENT):
                break
            current[key[len(_CURRENT) :].decode()] = value.decode()
    return current


def _read_live(
    txn: lmdb.Transaction[bytes], dbs: dict[str, Any]
) -> dict[tuple[str, str | None], int]:
    live: dict[tuple[str, str | None], int] = {}
    cursor = txn.cursor(db=dbs["ix_run_state"])
    for state in (b"running", b"escalated"):
        prefix = state + SEP
        if not cursor.set_range(prefix):
            continue
        for key, _ in cursor:
            if not key.startswith(prefix):
                break
            data = txn.get(key[len(prefix) :], db=dbs["runs"])
            if data is None:
                continue
            run = _run_decoder.decode(data)
            at = (run.pipeline, run.pipeline_version)
            live[at] = live.get(at, 0) + 1
    return live


def record_versions(store: Store, versions: Sequence[PipelineVersion]) -> int:
    """Store each of ``versions`` not stored yet and mark them current, in one write
    transaction, only if something is new; return how many versions were written.

    Raises:
        StoreFull, StoreIOError: the store refused the write; nothing was written.
    """
    with store._read() as txn:
        meta = store._dbs["meta"]
        stored = {(v.pipeline, v.version) for v in read_versions(txn, meta, None)}
        current = read_current(txn, meta)
    new = [v for v in versions if (v.pipeline, v.version) not in stored]
    moved = [v for v in versions if current.get(v.pipeline) != v.version]
    if not new and not moved:
        return 0

    def write(txn: lmdb.Transaction[bytes], dbs: dict[str, Any]) -> int:
        for v in new:
            txn.put(_version_key(v.pipeline, v.version), encode_msgpack(v), db=dbs["meta"])
        for v in moved:
            txn.put(_CURRENT + v.pipeline.encode(), v.version.encode(), db=dbs["meta"])
        return len(new)

    return store._maintain(write)


@contextlib.contextmanager
def _read_only(data_dir: Path) -> Iterator[tuple[lmdb.Transaction[bytes], dict[str, Any]]]:
    """One read transaction on the store in ``data_dir`` beside its writer (no lock taken:
    LMDB lets other processes read while the daemon writes)."""
    if not (data_dir / "data.mdb").is_file():
        raise no_store_at(data_dir)
    try:
        env = lmdb.open(str(data_dir), readonly=True, lock=True, max_dbs=64, create=False)
    except lmdb.Error as exc:
        raise StoreIOError(f"cannot open store {data_dir}: {exc}") from exc
    try:
        with env.begin() as txn:
            names = ("meta", "runs", "ix_run_state")
            try:
                dbs = {name: env.open_db(name.encode(), txn=txn, create=False) for name in names}
            except lmdb.NotFoundError as exc:
                raise StorePathError(str(data_dir), "not a handoffs store") from exc
            yield txn, dbs
    except lmdb.Error as exc:
        raise StoreIOError(f"read failed in {data_dir}: {exc}") from exc
    finally:
        env.close()


def read_live_versions(
    data_dir: str | os.PathLike[str], pipeline: str | None = None
) -> LiveVersions:
    """The versions stored in the store in ``data_dir`` (of ``pipeline``, or all), read
    while a daemon may have it open.

    Raises:
        StorePathError: ``data_dir`` holds no store.
        StoreIOError, StoreCorrupt: it cannot be read.
    """
    with _read_only(Path(data_dir)) as (txn, dbs):
        versions = read_versions(txn, dbs["meta"], pipeline)
        current = read_current(txn, dbs["meta"])
        live = _read_live(txn, dbs)
    if pipeline is not None:
        current = {p: v for p, v in current.items() if p == pipeline}
        live = {at: n for at, n in live.items() if at[0] == pipeline}
    return LiveVersions(versions=versions, current=current, live=live)
