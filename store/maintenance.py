"""Whole-store file operations: hot backups, restores and compaction.

Every one writes its result beside the destination first (a temporary name), fsyncs it, and
then renames it into place, so an interrupted operation (kill -9, a full disk) leaves the
store and the destination as they were, plus at worst a temporary directory named
``.<name>.tmp-<pid>`` that the next run of the same operation removes.

A backup reads: it opens the environment read-only beside its writer (LMDB allows many
processes to read while one writes) and copies it from one read transaction, so it needs no
lock and the daemon keeps committing. Compaction and restore write the data file itself:
they hold the store's lock (:class:`StoreLocked` while a daemon has it open).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

import lmdb
from handoffs.store.errors import (
    StoreCorrupt,
    StoreIOError,
    StoreLocked,
    StorePathError,
    no_store_at,
)
from handoffs.store.kb import Store, StoreOptions

__all__ = ["backup", "compact", "restore"]

_DATA = "data.mdb"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scratch(target: Path) -> Path:
    """An empty temporary directory beside ``target`` (same file system: renames are atomic);
    what an interrupted earlier run left there is removed first."""
    parent = target.parent
    for stale in parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = parent / f".{target.name}.tmp-{os.getpid()}"
    scratch.mkdir(mode=0o700)
    return scratch


def _holder(data_dir: Path) -> int | None:
    """The PID written in the store's lock file (the process that has it open, or had)."""
    try:
        text = (data_dir / "handoffs.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _locked(data_dir: Path) -> bool:
    """Whether some open file holds the store's lock (this process's own included: flock
    locks belong to open files, not processes)."""
    try:
        fd = os.open(data_dir / "handoffs.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the file drops a lock taken just now
    return False


def backup(data_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Copy the store in ``data_dir`` to the new directory ``out``, consistent as of one
    moment, while another process (the daemon) may be writing it. ``out`` can be opened as
    a data directory as it is (or put back with :func:`restore`). Returns ``out``.

    The copy is compacted (free pages left out). In the process that has the store open,
    use ``Store.copy`` instead: LMDB forbids opening one environment twice in a process.

    Raises:
        StorePathError: ``data_dir`` holds no store, ``out`` exists, or this process has the
            store open.
        StoreIOError: LMDB or the file system failed; ``out`` was not made.
    """
    source, target = Path(data_dir), Path(out)
    if not (source / _DATA).is_file():
        raise no_store_at(source)
    if target.exists():
        raise StorePathError(str(target), "it exists; a backup goes to a new directory")
    if _holder(source) == os.getpid() and _locked(source):
        raise StorePathError(str(source), "this process has it open: back it up with Store.copy")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = _scratch(target)
    try:
        # Read-only, but with LMDB's lock file: the read transaction takes a reader slot, so
        # the writer does not reuse the pages being copied.
        env = lmdb.open(str(source), readonly=True, lock=True, max_dbs=64, create=False)
        try:
            with env.begin() as txn:
                env.copy(str(scratch), compact=True, txn=txn)
        finally:
            env.close()
        _fsync(scratch / _DATA)
        os.chmod(scratch / _DATA, 0o600)
        os.rename(scratch, target)
        _fsync(target.parent)
    except lmdb.Error as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise StoreIOError(f"cannot back up {source} to {target}: {exc}") from exc
    except OSError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise StoreIOError(f"cannot back up {source} to {target}: {exc}") from exc
    return target


def restore(backup_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> Path:
    """Put the backup in ``backup_dir`` in place as the store of ``data_dir`` (made if
    missing), which must hold no store yet (move an old one aside first: a restore never
    overwrites data). The restored store is opened once and checked (``Store.verify``).

    Raises:
        StorePathError: ``backup_dir`` holds no backup, or ``data_dir`` already a store.
        StoreLocked: another process has ``data_dir`` open.
        StoreCorrupt: the backup is not a consistent store (it was not put in place).
    """
    source, target = Path(backup_dir), Path(data_dir)
    if not (source / _DATA).is_file():
        raise StorePathError(str(source), "no backup there (no data.mdb)")
    if (target / _DATA).exists():
        raise StorePathError(
            str(target), "it holds a store already; move it aside to restore into it"
        )
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = _scratch(target / _DATA)
    try:
        shutil.copyfile(source / _DATA, scratch / _DATA)
        os.chmod(scratch / _DATA, 0o600)
        _fsync(scratch / _DATA)
    except OSError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise StoreIOError(f"cannot restore {source} into {target}: {exc}") from exc
    try:
        with Store.open(scratch) as trial:
            problems = trial.verify()
        if problems:
            raise StoreCorrupt("backup", _DATA.encode(), "; ".join(problems[:5]))
        # Under the lock of the (new, empty) store there, so no one opens it meanwhile.
        with Store.open(target):
            os.rename(scratch / _DATA, target / _DATA)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target / "lock.mdb")  # the empty store's readers table, not ours
            _fsync(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def compact(
    data_dir: str | os.PathLike[str], options: StoreOptions | None = None
) -> tuple[int, int]:
    """Rewrite the store in ``data_dir`` without its free pages, so the file shrinks to its
    data. Returns ``(bytes before, bytes after)`` of the data file.

    The compacted copy is written and fsynced beside the store, then renamed over its data
    file while the store's lock is held: interrupted at any point, the store is either the
    old file or the new one, whole.

    Raises:
        StoreLocked: another process (the daemon) has the store open.
        StorePathError: ``data_dir`` holds no store.
        StoreIOError: LMDB or the file system failed; the store is unchanged.
    """
    root = Path(data_dir)
    data = root / _DATA
    if not data.is_file():
        raise no_store_at(root)
    before = data.stat().st_size
    scratch = _scratch(data)
    try:
        with Store.open(root, options) as store:
            store.copy(scratch, compact=True)
            _fsync(scratch / _DATA)
            os.chmod(scratch / _DATA, 0o600)
            # Still under the store's lock: no other process opens the old file from here on.
            os.rename(scratch / _DATA, data)
            # Its readers table describes the old file; the next opener makes a new one.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(root / "lock.mdb")
            _fsync(root)
    except StoreLocked:
        raise
    except OSError as exc:
        raise StoreIOError(f"cannot compact {root}: {exc}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return before, data.stat().st_size
