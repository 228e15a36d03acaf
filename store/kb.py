"""The knowledge base: one LMDB environment holding artifacts, runs, tasks, escalations and
the journal, with secondary indexes kept in the same transactions as their records.

Threads: any thread may read (short read transactions). Writes go through :meth:`Store.commit`,
whose transaction opens and closes inside the call, on the calling thread; the orchestrator
is the only caller in a runtime. Growing the map waits for readers to finish.

:class:`Store` keeps the lifecycle and the write path here; its read methods call
``handoffs.store.reads``, and ``verify`` and the index built at open ``handoffs.store.integrity``.
The environment is opened by ``handoffs.store.environment``; small types are in
``handoffs.store.values``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, overload

import lmdb
import msgspec
from handoffs.messages import Escalation, Event, Handoff, Run, TaskRecord, encode_msgpack
from handoffs.store import integrity, reads
from handoffs.store.batch import UNKNOWN, Batch, IdempotencyRecord, check_id
from handoffs.store.environment import DBS, ReaderGate, open_environment
from handoffs.store.errors import StoreClosed, StoreFull, StoreIOError
from handoffs.store.pages import SEP
from handoffs.store.reads import join as _join
from handoffs.store.values import (
    ArtifactIndex,
    Page,
    StoreOptions,
    StoreStatistics,
    _IndexedOnly,
    _StateOnly,
)
from handoffs.store.versions import PipelineVersion

# ArtifactIndex, Page, StoreOptions and StoreStatistics live in values.py; kept importable here.
__all__ = ["ArtifactIndex", "Page", "Store", "StoreOptions", "StoreStatistics"]

log = logging.getLogger("handoffs.store")

T = TypeVar("T")

_STATE_INDEX: Final = {
    "runs": "ix_run_state",
    "tasks": "ix_task_state",
    "escalations": "ix_escalation_state",
}


class Store:
    """The LMDB knowledge base. Open with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(
        self,
        path: Path,
        env: lmdb.Environment,
        dbs: dict[str, Any],
        lock_fd: int,
        options: StoreOptions,
    ) -> None:
        self.path = path
        self.options = options
        self._env: lmdb.Environment | None = env
        self._dbs = dbs
        self._lock_fd = lock_fd
        self._gate = ReaderGate()
        self._write_lock = threading.Lock()
        self._commits = 0
        self._batches = 0
        self._resizes = 0
        self._last_seq = self._read_last_seq()
        self._index_runs()
        #: Called after each commit with (seconds, batches); the runtime's metrics hook.
        self.on_commit: Callable[[float, int], None] | None = None
        self._listeners: tuple[Callable[[list[Event]], None], ...] = ()

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: StoreOptions | None = None) -> Store:
        """Open (creating if needed) the store in directory ``path``.

        The directory is made 0700 and the files 0600. A lock file keeps a second process
        out; stale LMDB reader slots from dead processes are cleared.

        Raises:
            StorePathError: ``path`` is a file, or cannot be made a directory we may use.
            StoreLocked: another process (or this one) has the store open.
            StoreIOError: LMDB could not open the files.
        """
        options = options or StoreOptions()
        root = Path(path)
        env, dbs, fd = open_environment(root, options)
        return cls(root, env, dbs, fd, options)

    def close(self) -> None:
        """Close the environment and release the lock. Idempotent."""
        with self._write_lock:
            env, self._env = self._env, None
            if env is None:
                return
            with self._gate.exclusive():
                env.close()
            os.close(self._lock_fd)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._env is None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_env(self) -> lmdb.Environment:
        env = self._env
        if env is None:
            raise StoreClosed(f"store {self.path} is closed")
        return env

    @contextlib.contextmanager
    def _read(self) -> Iterator[lmdb.Transaction[bytes]]:
        with self._gate.reading():
            env = self._require_env()
            try:
                with env.begin(buffers=False) as txn:
                    yield txn
            except lmdb.Error as exc:
                raise StoreIOError(f"read failed in {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- writes

    def commit(self, batches: Sequence[Batch], *, applied: Callable[[], None] | None = None) -> int:
        """Apply ``batches`` in ONE write transaction: all of them, or (on error) none.

        Grows the map (x2, up to ``max_map_size``) and retries when it is full. Returns the
        journal's last sequence number after the commit. ``applied`` is called once the
        records are in the transaction, before it commits (and its fsync runs): a caller
        can wait for that alone, since every LMDB call drops the GIL and a busy thread
        makes each of them wait for it.

        Raises:
            StoreFull: the commit does not fit under ``max_map_size``; nothing was written.
            StoreClosed: the store is closed.
            StoreIOError: LMDB failed otherwise; nothing was written.
        """
        started = time.perf_counter()
        listeners = self._listeners
        committed: list[Event] | None = [] if listeners else None
        with self._write_lock:
            env = self._require_env()
            while True:
                if committed:
                    committed.clear()  # a retry after the map grew numbers them again
                try:
                    seq = self._apply(env, batches, applied, committed)
                except lmdb.MapFullError:
                    self._grow(env)
                    continue
                except lmdb.Error as exc:
                    raise StoreIOError(f"commit failed in {self.path}: {exc}") from exc
                break
            self._last_seq = seq
            self._commits += 1
            self._batches += len(batches)
            # Under the write lock, so listeners see commits in journal order.
            if committed:
                for listener in listeners:
                    try:
                        listener(committed)
                    except Exception:  # the commit stands; a listener's bug is its own
                        log.exception("store: event listener %r failed", listener)
        hook = self.on_commit
        if hook is not None:
            hook(time.perf_counter() - started, len(batches))
        return seq

    def subscribe(self, listener: Callable[[list[Event]], None]) -> Callable[[], None]:
        """Call ``listener`` with the journal events of every commit, once it is durable.

        Called on the committing thread under the write lock, in journal order, with events
        numbered and stamped as stored: it must be quick, must not block (hand the events to
        a queue) and must not commit. Returns a function that unsubscribes. What reading
        :meth:`journal` in a loop would give, without polling.
        """
        with self._write_lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._write_lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def room_for(self, nbytes: int) -> str | None:
        """Whether a commit writing about ``nbytes`` would fit now; why not, if it would not.

        Writes nothing: the map is tried with a transaction that is aborted (growing the map
        as a commit would, up to ``max_map_size``), the disk by its free space (twice
        ``nbytes``: LMDB writes new pages before it frees old ones).
        """
        try:
            fs = os.statvfs(self.path)
            free = fs.f_bavail * fs.f_frsize
            if free < 2 * nbytes + (1 << 16):
                return f"disk full: {free} bytes free in {self.path}, {2 * nbytes} needed"
        except OSError:
            pass
        with self._write_lock:
            env = self._require_env()
            while True:
                try:
                    with env.begin(write=True) as txn:
                        txn.put(b"room-probe", bytes(nbytes), db=self._dbs["meta"])
                        raise _Abort
                except _Abort:
                    return None
                except lmdb.MapFullError:
                    try:
                        self._grow(env)
                    except StoreFull as exc:
                        return str(exc)
                except lmdb.Error as exc:
                    return f"{type(exc).__name__}: {exc}"

    def copy(self, path: str | os.PathLike[str], *, compact: bool = False) -> None:
        """Write a consistent copy of the environment into the existing empty directory
        ``path`` (as ``data.mdb``), from one read transaction: commits go on meanwhile.
        ``compact``: leave out free pages (the copy is as small as the data).

        Raises:
            StoreIOError: LMDB could not write the copy.
        """
        with self._read() as txn:
            try:
                # Without compaction LMDB takes its own read transaction (it refuses ours).
                self._require_env().copy(str(path), compact=compact, txn=txn if compact else None)
            except lmdb.Error as exc:
                raise StoreIOError(f"cannot copy store {self.path} to {path}: {exc}") from exc

    def _maintain(self, work: Callable[[lmdb.Transaction[bytes], dict[str, Any]], T]) -> T:
        """Run ``work(txn, dbs)`` in one write transaction under the write lock (retention's
        deletions: ``handoffs.store.retention``); the map grows as for a commit. ``work``
        must keep the transaction short (it holds up every commit) and may run again after
        a growth.

        Raises:
            StoreFull: the map cannot grow further.
            StoreIOError: LMDB failed; nothing was written.
        """
        with self._write_lock:
            env = self._require_env()
            while True:
                try:
                    with env.begin(write=True) as txn:
                        return work(txn, self._dbs)
                except lmdb.MapFullError:
                    self._grow(env)
                except lmdb.Error as exc:
                    raise StoreIOError(f"maintenance failed in {self.path}: {exc}") from exc

    def _grow(self, env: lmdb.Environment) -> None:
        size = env.info()["map_size"]
        cap = self.options.max_map_size
        if size >= cap:
            raise StoreFull(size, cap)
        with self._gate.exclusive():
            env.set_mapsize(min(size * 2, cap))
        self._resizes += 1

    def _apply(
        self,
        env: lmdb.Environment,
        batches: Sequence[Batch],
        applied: Callable[[], None] | None,
        committed: list[Event] | None,
    ) -> int:
        db = self._dbs
        seq = self._last_seq
        now = time.time()
        replace = msgspec.structs.replace
        with env.begin(write=True) as txn:
            # One cursor per DB: a cursor's put has no keyword arguments to parse (measured at
            # half the cost of txn.put(key, value, db=...) for growing keys).
            put = {name: txn.cursor(db=handle).put for name, handle in db.items()}
            artifacts, journal = put["artifacts"], put["journal"]
            runs, tasks, put_task_state = put["runs"], put["tasks"], put["ix_task_state"]
            task_states = db["ix_task_state"]
            by_run, by_stage = put["ix_run_artifacts"], put["ix_stage_artifacts"]
            by_kind, by_tag = put["ix_kind_artifacts"], put["ix_tag_artifacts"]
            for batch in batches:
                for handoff, value, new in batch.artifacts:
                    aid = handoff.id.encode()
                    old = None if new else txn.get(aid, db=db["artifacts"])
                    if old is not None:
                        # Recorded again: drop the old version's entries (its tags may differ).
                        for index, key in _artifact_entries(_indexed_decoder.decode(old), aid):
                            txn.delete(key, db=db[index])
                    artifacts(aid, value)
                    # The entries of _artifact_entries, put without building the list (four
                    # artifacts per run).
                    by_run(handoff.run_id.encode() + SEP + aid, b"")
                    by_stage(
                        handoff.pipeline.encode() + SEP + handoff.stage.encode() + SEP + aid, b""
                    )
                    by_kind(handoff.kind.encode() + SEP + aid, b"")
                    for tag in handoff.tags:
                        by_tag(tag.encode() + SEP + aid, b"")
                for run, value, was in batch.runs:
                    if was == run.state:  # the common update: no index entry moves
                        runs(run.run_id.encode(), value)
                        continue
                    self._put_stateful(
                        txn, put, "runs", run.run_id, run.state, value, was, run.pipeline
                    )
                for task, value, was in batch.tasks:
                    if was == UNKNOWN:
                        self._put_stateful(txn, put, "tasks", task.task_id, task.state, value, was)
                        continue
                    # _put_stateful inlined for a known previous state: eight task writes per
                    # run, each a call of eight arguments otherwise.
                    key, state = task.task_id.encode(), task.state
                    tasks(key, value)
                    if was != state:
                        if was is not None:
                            txn.delete(was.encode() + SEP + key, db=task_states)
                        put_task_state(state.encode() + SEP + key, b"")
                for esc, value, was in batch.escalations:
                    self._put_stateful(txn, put, "escalations", esc.id, esc.state, value, was)
                for key, value in batch.idempotency:
                    put["idempotency"](key, value)
                for draft in batch.events:
                    seq += 1
                    event = replace(draft, seq=seq, at=now)
                    # Sequence numbers only grow: appended at the end of the tree, no search.
                    if not journal(seq.to_bytes(8, "big"), encode_msgpack(event), append=True):
                        raise StoreIOError(f"journal sequence {seq} is not past the last entry")
                    if committed is not None:
                        committed.append(event)
            if applied is not None:
                applied()
        return seq

    def _put_stateful(
        self,
        txn: lmdb.Transaction[bytes],
        put: dict[str, Callable[..., bool]],
        name: str,
        id: str,
        state: str,
        value: bytes,
        was: str | None,
        pipeline: str | None = None,
    ) -> None:
        """Put a record and move its state index entry (reading the old state if unknown).

        ``pipeline``, for a run: its ``ix_run_pipeline`` entry moves too. A caller that names
        the previous state (``was``) is trusted to keep the pipeline, as the runtime does; an
        unknown one is read back, pipeline and all. (One method for both on the commit path:
        a second call per run costs more than the index entry.)
        """
        key = id.encode()
        index = _STATE_INDEX[name]
        before = pipeline
        if was == UNKNOWN:
            old = txn.get(key, db=self._dbs[name])
            if old is None:
                was = None
            else:
                prior = _state_decoder.decode(old)
                was, before = prior.state, prior.pipeline or pipeline
        if was is not None and was != state:
            txn.delete(was.encode() + SEP + key, db=self._dbs[index])
        put[name](key, value)
        if was != state:
            put[index](state.encode() + SEP + key, b"")
        if pipeline is not None and (was != state or before != pipeline):
            if was is not None and before is not None:
                txn.delete(_join(before, was) + SEP + key, db=self._dbs["ix_run_pipeline"])
            put["ix_run_pipeline"](_join(pipeline, state) + SEP + key, b"")

    # ----------------------------------------------------------------- reads

    def get_artifact(self, artifact_id: str) -> Handoff | None:
        """The handoff record ``artifact_id``, or ``None``."""
        return reads.get(
            self._read, self._dbs, "artifacts", check_id(artifact_id, "artifact id"), Handoff
        )

    def get_run(self, run_id: str) -> Run | None:
        """The run ``run_id``, or ``None``."""
        return reads.get(self._read, self._dbs, "runs", check_id(run_id, "run id"), Run)

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The task record ``task_id``, or ``None``."""
        return reads.get(self._read, self._dbs, "tasks", check_id(task_id, "task id"), TaskRecord)

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        """The escalation ``escalation_id``, or ``None``."""
        key = check_id(escalation_id, "escalation id")
        return reads.get(self._read, self._dbs, "escalations", key, Escalation)

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The run an idempotency key points at, with its request digest, or ``None``.

        Raises:
            InvalidKey: ``key`` is not a valid idempotency key.
        """
        return reads.get_idempotency(self._read, self._dbs, key)

    def artifacts(
        self,
        *,
        run_id: str | None = None,
        pipeline: str | None = None,
        stage: str | None = None,
        kind: str | None = None,
        tag: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Handoff records through one index, oldest first.

        Exactly one selector: ``run_id``; ``pipeline`` (and optionally ``stage``); ``kind``;
        or ``tag``.

        Raises:
            ValueError: no selector or more than one.
            InvalidKey: a selector is not a valid id or name.
        """
        return reads.artifacts(
            self._read,
            self._dbs,
            run_id=run_id,
            pipeline=pipeline,
            stage=stage,
            kind=kind,
            tag=tag,
            limit=limit,
            cursor=cursor,
        )

    def newest_artifacts(
        self,
        *,
        kind: str | None = None,
        tag: str | None = None,
        pipeline: str | None = None,
        stage: str | None = None,
        outcome: str | None = None,
        limit: int = 20,
        scan: int = 10_000,
    ) -> list[Handoff]:
        """Handoff records through one index, newest first: at most ``limit`` with
        ``outcome`` (any if ``None``), looking at no more than ``scan`` index entries.

        Exactly one selector: ``kind``; ``tag``; or ``pipeline`` with ``stage``.

        Raises:
            ValueError: no selector or more than one.
            InvalidKey: a selector is not a valid name.
        """
        return reads.newest_artifacts(
            self._read,
            self._dbs,
            kind=kind,
            tag=tag,
            pipeline=pipeline,
            stage=stage,
            outcome=outcome,
            limit=limit,
            scan=scan,
        )

    def run_handoffs(self, run_id: str) -> list[Handoff]:
        """Every handoff of a run, in the order they were committed."""
        page = self.artifacts(run_id=run_id, limit=1 << 62)
        return page.items

    def runs(
        self,
        *,
        state: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Runs, oldest first: all, in ``state``, of ``pipeline``, or both; each page seeks
        through an index (``ix_run_state``, ``ix_run_pipeline``)."""
        return reads.runs(
            self._read, self._dbs, state=state, pipeline=pipeline, limit=limit, cursor=cursor
        )

    def escalations(
        self, *, state: str | None = "open", limit: int = 100, cursor: str | None = None
    ) -> Page:
        """Escalations in ``state`` (all when ``None``), oldest first."""
        return reads.escalations(self._read, self._dbs, state=state, limit=limit, cursor=cursor)

    def tasks(self, state: str) -> list[TaskRecord]:
        """Every task record in ``state`` (``ready``, ``running`` or ``done``)."""
        return reads.tasks(self._read, self._dbs, state)

    def pending_tasks(self) -> list[TaskRecord]:
        """Every ready or running task: what a restarted runtime must dispatch again."""
        return sorted(self.tasks("ready") + self.tasks("running"), key=lambda t: t.task_id)

    @overload
    def journal(self, after: int = 0, limit: int = 1000) -> list[Event]: ...
    @overload
    def journal(self, after: int = 0, limit: int = 1000, *, fields: type[T]) -> list[T]: ...
    def journal(self, after: int = 0, limit: int = 1000, *, fields: type[Any] = Event) -> list[Any]:
        """Journal events with ``seq > after``, in order, at most ``limit``.

        ``fields``: a Struct holding only the event fields a tail needs (``seq``, ``type``,
        ``run_id``, ``at``, ...); decoding into it skips the rest, which is much cheaper than
        whole events for a reader that follows every commit.
        """
        return reads.journal(self._read, self._dbs, after, limit, fields)

    def count_runs(self) -> dict[str, int]:
        """How many runs are in each state (an index scan; no record is decoded)."""
        return reads.count_index(self._read, self._dbs, "ix_run_state")

    def count_escalations(self) -> dict[str, int]:
        """How many escalations are in each state."""
        return reads.count_index(self._read, self._dbs, "ix_escalation_state")

    def pipeline_versions(self, pipeline: str | None = None) -> list[PipelineVersion]:
        """The stored stage graphs behind runs' ``pipeline_version`` (of ``pipeline``, or
        every pipeline's), by pipeline, oldest first. Recorded at each open with a config."""
        return reads.pipeline_versions(self._read, self._dbs, pipeline)

    def map_usage(self) -> tuple[int, int]:
        """``(bytes used, map size)`` of the LMDB map."""
        with self._read():
            env = self._require_env()
            info = env.info()
            return (info["last_pgno"] + 1) * env.stat()["psize"], info["map_size"]

    @property
    def last_seq(self) -> int:
        """The sequence number of the last committed journal event (0: none yet)."""
        return self._last_seq

    def _read_last_seq(self) -> int:
        with self._read() as txn:
            cur = txn.cursor(db=self._dbs["journal"])
            return int.from_bytes(cur.key(), "big") if cur.last() else 0

    def _index_runs(self) -> None:
        """Build ``ix_run_pipeline`` when it does not hold one entry per run: a store made
        before the index existed (or written by such a version since) gets it at open.

        Raises:
            StoreIOError: LMDB failed; the store is closed again.
        """
        env = self._require_env()
        dbs = self._dbs
        with self._read() as txn:
            runs = txn.stat(dbs["runs"])["entries"]
            if txn.stat(dbs["ix_run_pipeline"])["entries"] == runs:
                return
        while True:
            try:
                with self._write_lock, env.begin(write=True) as txn:
                    integrity.index_runs(txn, dbs)
                break
            except lmdb.MapFullError:
                self._grow(env)
            except lmdb.Error as exc:
                self.close()
                raise StoreIOError(f"cannot index the runs of {self.path}: {exc}") from exc
        log.info("store: indexed %d runs by pipeline in %s", runs, self.path)

    def statistics(self) -> StoreStatistics:
        """Entries per DB, map size and use, commit counters."""
        with self._read() as txn:
            entries = {name: txn.stat(self._dbs[name])["entries"] for name in DBS}
            env = self._require_env()
            info = env.info()
            psize = env.stat()["psize"]
        return StoreStatistics(
            path=str(self.path),
            entries=entries,
            map_size=info["map_size"],
            map_used=(info["last_pgno"] + 1) * psize,
            commits=self._commits,
            batches=self._batches,
            resizes=self._resizes,
            last_seq=self._last_seq,
        )

    # ----------------------------------------------------------------- checking

    def verify(self) -> list[str]:
        """Scan everything; return each disagreement between records and indexes (empty: clean).

        Checks that every record decodes, every index entry points at a record that agrees
        with it, every record has its index entries, and the journal has no gaps.
        """
        with self._read() as txn:
            return integrity.verify(txn, self._dbs)


_state_decoder = msgspec.msgpack.Decoder(_StateOnly)
_indexed_decoder = msgspec.msgpack.Decoder(_IndexedOnly)


def _artifact_entries(handoff: Handoff | _IndexedOnly, aid: bytes) -> list[tuple[str, bytes]]:
    """The (index, key) entries that point at artifact ``aid`` (a list: cheaper than a
    generator, once per artifact on the commit path)."""
    entries = [
        ("ix_run_artifacts", handoff.run_id.encode() + SEP + aid),
        (
            "ix_stage_artifacts",
            handoff.pipeline.encode() + SEP + handoff.stage.encode() + SEP + aid,
        ),
        ("ix_kind_artifacts", handoff.kind.encode() + SEP + aid),
    ]
    if handoff.tags:
        entries += [("ix_tag_artifacts", tag.encode() + SEP + aid) for tag in handoff.tags]
    return entries


class _Abort(Exception):
    """Leaves a write transaction without committing it."""
