"""Opening the LMDB environment: the directory and its lock file, one named DB per record
kind, and the gate that keeps readers out while the map is resized.

Threads: :class:`ReaderGate` is shared by every reading thread and the one writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import lmdb
from handoffs.store.errors import StoreIOError, StoreLocked, StorePathError
from handoffs.store.values import StoreOptions

# Nothing here is the package's API: store.kb imports these by name (as from pages.py).
__all__: list[str] = []

# One named DB per record kind, then the secondary indexes (key -> b"").
DBS: Final = (
    "artifacts",
    "runs",
    "tasks",
    "journal",
    "escalations",
    "idempotency",
    "meta",
    "ix_run_artifacts",
    "ix_stage_artifacts",
    "ix_kind_artifacts",
    "ix_tag_artifacts",
    "ix_run_state",
    "ix_task_state",
    "ix_escalation_state",
    # pipeline + state + run id: a pipeline's runs, in one state or in all, by seeking. Added
    # after the others: a store made before it gets it built when opened (see integrity.py).
    "ix_run_pipeline",
)


class ReaderGate:
    """Lets many readers in at once, and a map resize in only when no reader is inside.

    LMDB requires that no transaction be active in the process while the map is resized.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._resizing = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._resizing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()


def lock_file(root: Path) -> int:
    """Make ``root`` (0700) and open its lock file; the OS's refusals become StorePathError."""
    if root.exists() and not root.is_dir():
        raise StorePathError(str(root), "it is a file, not a directory")
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        return os.open(root / "handoffs.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except NotADirectoryError:
        raise StorePathError(str(root), "a parent of it is a file, not a directory") from None
    except OSError as exc:
        raise StorePathError(str(root), (exc.strerror or str(exc)).lower()) from None


def open_environment(
    root: Path, options: StoreOptions
) -> tuple[lmdb.Environment, dict[str, Any], int]:
    """Lock ``root`` for this process and open its environment: ``(env, dbs, lock fd)``.

    Raises:
        StorePathError: ``root`` is a file, or cannot be made a directory we may use.
        StoreLocked: another process (or this one) has the store open.
        StoreIOError: LMDB could not open the files.
    """
    fd = lock_file(root)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise StoreLocked(str(root), int(holder) if holder.isdigit() else None) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    try:
        env = lmdb.open(
            str(root),
            map_size=options.map_size,
            max_dbs=len(DBS) + 2,
            sync=options.sync,
            metasync=options.metasync,
            mode=0o600,
            max_readers=options.max_readers,
            # Records are small and read by many threads; one reader slot per txn.
            lock=True,
        )
        env.reader_check()
        dbs = {name: env.open_db(name.encode()) for name in DBS}
        # LMDB reopens a grown store with a map just as large as its data file: give it
        # room again (as if it had just grown), never less than asked for.
        used = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        size = max(options.map_size, min(2 * used, options.max_map_size))
        if env.info()["map_size"] < size:
            env.set_mapsize(size)
    except lmdb.Error as exc:
        os.close(fd)
        raise StoreIOError(f"cannot open store {root}: {exc}") from exc
    return env, dbs, fd
