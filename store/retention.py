"""Retention: delete finished runs past their age, with everything that hangs off them.

A run is pruned when it ended (``completed``; ``failed`` or ``cancelled``) longer ago than
its state's retention; running and escalated runs are never touched. Pruning a run deletes,
in one transaction: the run and its state and pipeline index entries, its handoffs with
their four indexes (run, pipeline/stage, kind, tags), and its idempotency key. Its tasks and
resolved escalations have no index by run: a sweep after the runs deletes every done task
and resolved escalation, created before the cutoff, whose run is gone. The journal is
trimmed from its head: entries older than the journal's window go (the newest entry always
stays, so sequence numbers never repeat).

Every step is a small write transaction (``batch`` runs, or a few hundred keys), so a commit
waits for at most one of them: a few milliseconds. Interrupted anywhere (kill -9), the store
is consistent; what was not yet deleted goes on the next pass.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lmdb
import msgspec
from handoffs.store.kb import Store
from handoffs.store.pages import SEP

__all__ = ["PruneReport", "RetentionPolicy", "parse_duration", "prune"]

_TERMINAL = ("completed", "failed", "cancelled")


_DURATION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?[smhd]")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"45s"``, ``"30m"``, ``"12h"`` or ``"30d"`` (a number and a unit).

    Raises:
        ValueError: it is not such a duration (the message quotes it).
    """
    if not isinstance(text, str) or _DURATION.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a duration: a number and s, m, h or d (30d)")
    return float(text[:-1]) * _UNITS[text[-1]]


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Ages in seconds (``None``: kept for ever). ``failed`` covers cancelled runs too;
    ``journal`` defaults to the shortest run retention given."""

    completed: float | None = None
    failed: float | None = None
    journal: float | None = None

    def ages(self) -> dict[str, float]:
        """Retention per terminal run state, for the states that have one."""
        out: dict[str, float] = {}
        if self.completed is not None:
            out["completed"] = self.completed
        if self.failed is not None:
            out["failed"] = out["cancelled"] = self.failed
        return out

    def journal_age(self) -> float | None:
        """The journal's window: its own, else the shortest run retention, else none."""
        if self.journal is not None:
            return self.journal
        ages = self.ages().values()
        return min(ages) if ages else None

    @property
    def active(self) -> bool:
        """Whether anything would ever be pruned."""
        return bool(self.ages()) or self.journal is not None


class PruneReport(msgspec.Struct, kw_only=True):
    """What one pass deleted, and how long its longest transaction held the write lock."""

    runs: int = 0
    handoffs: int = 0
    tasks: int = 0
    escalations: int = 0
    idempotency_keys: int = 0
    journal: int = 0
    transactions: int = 0
    longest_transaction: float = 0.0
    #: ``stop`` ended the pass early: the rest goes next time.
    stopped: bool = False


class _RunFields(msgspec.Struct):
    pipeline: str = ""
    state: str = ""
    updated_at: float = 0.0
    idempotency_key: str | None = None


class _OwnedBy(msgspec.Struct):
    run_id: str = ""


class _At(msgspec.Struct):
    at: float = 0.0


class _Indexed(msgspec.Struct):
    run_id: str
    pipeline: str
    stage: str
    kind: str
    tags: list[str] = []


_run_fields = msgspec.msgpack.Decoder(_RunFields)
_owned_by = msgspec.msgpack.Decoder(_OwnedBy)
_at = msgspec.msgpack.Decoder(_At)
_indexed = msgspec.msgpack.Decoder(_Indexed)
_idempotency = msgspec.msgpack.Decoder(tuple[str, str])

if TYPE_CHECKING:
    Txn = lmdb.Transaction[bytes]


def id_time(key: bytes) -> float:
    """The creation time (seconds) in an id (``prefix-<16 hex of time_ns><8 hex>``)."""
    return int(key[-24:-8], 16) / 1e9


def prune(
    store: Store,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    batch: int = 16,
    pause: Callable[[float], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> PruneReport:
    """Delete what ``policy`` no longer keeps, in transactions of at most ``batch`` runs.

    ``pause(seconds)`` runs between transactions with the length of the last one (the
    runtime's housekeeper waits a multiple of it there, leaving the committer the write
    lock and the CPU); ``stop`` returning true ends the pass early (the rest goes next time).

    Raises:
        StoreIOError, StoreFull, StoreClosed: from the store; what was committed stays.
    """
    now = time.time() if now is None else now
    report = PruneReport()

    def step(work: Callable[[Txn, dict[str, Any]], bool]) -> None:
        """Run ``work`` in transactions until it says it is done."""
        while not report.stopped:
            if stop is not None and stop():
                report.stopped = True
                return
            started = time.perf_counter()
            done = store._maintain(work)
            took = time.perf_counter() - started
            report.transactions += 1
            report.longest_transaction = max(report.longest_transaction, took)
            if done:
                return
            if pause is not None:
                pause(took)

    cutoffs = {state: now - age for state, age in policy.ages().items()}
    for state, cutoff in cutoffs.items():
        step(_RunPruner(state, cutoff, batch, report))
    if cutoffs:
        # Tasks and escalations of a pruned run were made before it ended, so before the
        # newest cutoff; anything later cannot belong to a pruned run.
        newest = max(cutoffs.values())
        step(_Orphans("tasks", "ix_task_state", b"done", newest, batch * 8, report))
        step(_Orphans("escalations", "ix_escalation_state", b"resolved", newest, batch * 8, report))
    window = policy.journal_age()
    if window is not None:
        step(_JournalTrim(now - window, batch * 20, report))
    return report


class _RunPruner:
    """Deletes the runs in one terminal state that ended before ``cutoff``, oldest first."""

    def __init__(self, state: str, cutoff: float, batch: int, report: PruneReport) -> None:
        self.prefix = state.encode() + SEP
        self.cutoff = cutoff
        self.batch = batch
        self.report = report
        self.after: bytes | None = None  # the last run looked at and kept

    def __call__(self, txn: Txn, dbs: dict[str, Any]) -> bool:
        cursor = txn.cursor(db=dbs["ix_run_state"])
        start = self.prefix + self.after + b"\x01" if self.after else self.prefix
        doomed: list[bytes] = []
        seen = 0
        more = cursor.set_range(start)
        while more:
            if len(doomed) >= self.batch or seen >= 8 * self.batch:
                break  # this transaction is full; the rest goes in the next
            key = cursor.key()
            run_id = key[len(self.prefix) :]
            # Ids sort by creation time and a run ends after it starts: past the cutoff by
            # creation, no later run ended before it.
            if not key.startswith(self.prefix) or id_time(run_id) > self.cutoff:
                more = False
                break
            seen += 1
            data = txn.get(run_id, db=dbs["runs"])
            if data is not None and _run_fields.decode(data).updated_at <= self.cutoff:
                doomed.append(run_id)
            else:
                self.after = run_id  # kept: the next transaction starts past it
            more = cursor.next()
        for run_id in doomed:
            _delete_run(txn, dbs, run_id, self.report)
        return not more


def _delete_run(txn: Txn, dbs: dict[str, Any], run_id: bytes, report: PruneReport) -> None:
    data = txn.get(run_id, db=dbs["runs"])
    if data is None:
        return
    run = _run_fields.decode(data)
    txn.delete(run_id, db=dbs["runs"])
    txn.delete(run.state.encode() + SEP + run_id, db=dbs["ix_run_state"])
    txn.delete(
        run.pipeline.encode() + SEP + run.state.encode() + SEP + run_id, db=dbs["ix_run_pipeline"]
    )
    report.runs += 1
    prefix = run_id + SEP
    cursor = txn.cursor(db=dbs["ix_run_artifacts"])
    artifacts = []
    found = cursor.set_range(prefix)
    while found:
        key = cursor.key()
        if not key.startswith(prefix):
            break
        artifacts.append(key[len(prefix) :])
        found = cursor.next()
    for aid in artifacts:
        raw = txn.get(aid, db=dbs["artifacts"])
        if raw is not None:
            h = _indexed.decode(raw)
            txn.delete(aid, db=dbs["artifacts"])
            txn.delete(
                h.pipeline.encode() + SEP + h.stage.encode() + SEP + aid,
                db=dbs["ix_stage_artifacts"],
            )
            txn.delete(h.kind.encode() + SEP + aid, db=dbs["ix_kind_artifacts"])
            for tag in h.tags:
                txn.delete(tag.encode() + SEP + aid, db=dbs["ix_tag_artifacts"])
            report.handoffs += 1
        txn.delete(prefix + aid, db=dbs["ix_run_artifacts"])
    if run.idempotency_key:
        key = run.idempotency_key.encode()
        bound = txn.get(key, db=dbs["idempotency"])
        # Only if the key still names this run (a key is bound once, but be sure).
        if bound is not None and _idempotency.decode(bound)[0].encode() == run_id:
            txn.delete(key, db=dbs["idempotency"])
            report.idempotency_keys += 1


class _Orphans:
    """Deletes records in ``state`` (done tasks, resolved escalations) made before
    ``cutoff`` whose run is gone, walking their state index oldest first."""

    def __init__(
        self, db: str, index: str, state: bytes, cutoff: float, batch: int, report: PruneReport
    ) -> None:
        self.db, self.index = db, index
        self.prefix = state + SEP
        self.cutoff = cutoff
        self.batch = batch
        self.report = report
        self.after: bytes | None = None

    def __call__(self, txn: Txn, dbs: dict[str, Any]) -> bool:
        cursor = txn.cursor(db=dbs[self.index])
        start = self.prefix + self.after + b"\x01" if self.after else self.prefix
        found = cursor.set_range(start)
        orphans: list[bytes] = []
        seen = 0
        while found and seen < self.batch:
            key = cursor.key()
            if not key.startswith(self.prefix):
                found = False
                break
            record_id = key[len(self.prefix) :]
            if id_time(record_id) > self.cutoff:
                found = False
                break
            seen += 1
            self.after = record_id
            data = txn.get(record_id, db=dbs[self.db])
            if (
                data is not None
                and txn.get(_owned_by.decode(data).run_id.encode(), db=dbs["runs"]) is None
            ):
                orphans.append(record_id)
            found = cursor.next()
        for record_id in orphans:
            txn.delete(record_id, db=dbs[self.db])
            txn.delete(self.prefix + record_id, db=dbs[self.index])
        if self.db == "tasks":
            self.report.tasks += len(orphans)
        else:
            self.report.escalations += len(orphans)
        return not found


class _JournalTrim:
    """Deletes journal entries older than ``cutoff`` from the head, never the newest."""

    def __init__(self, cutoff: float, batch: int, report: PruneReport) -> None:
        self.cutoff = cutoff
        self.batch = batch
        self.report = report

    def __call__(self, txn: Txn, dbs: dict[str, Any]) -> bool:
        cursor = txn.cursor(db=dbs["journal"])
        if not cursor.last():
            return True
        newest = cursor.key()
        found = cursor.first()
        deleted = 0
        while found and deleted < self.batch:
            key = cursor.key()
            if key == newest or _at.decode(cursor.value()).at >= self.cutoff:
                found = False
                break
            found = cursor.delete()  # moves to the next entry
            deleted += 1
        self.report.journal += deleted
        return not found
