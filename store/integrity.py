"""Checking the store against itself: :func:`verify` compares every index with the records
it is built from and the journal with its sequence numbers; :func:`index_runs` builds the
``ix_run_pipeline`` index of a store made before it existed.

Threads: each function runs inside a transaction its caller opened (``Store.verify`` a read
one, ``Store._index_runs`` a write one, at open).
"""

from __future__ import annotations

import logging
from typing import Any

import lmdb
from handoffs.messages import Escalation, Event, Handoff, Run, TaskRecord
from handoffs.store.errors import StoreCorrupt
from handoffs.store.pages import SEP
from handoffs.store.reads import Dbs, decode, join
from handoffs.store.values import _StateOnly

# Nothing here is the package's API: store.kb imports these by name (as from pages.py).
__all__: list[str] = []

log = logging.getLogger("handoffs.store")


def index_runs(txn: lmdb.Transaction[bytes], dbs: Dbs) -> None:
    """Build ``ix_run_pipeline`` again from the runs, in write transaction ``txn``; a run that
    does not decode is left out (and logged: :func:`verify` names it)."""
    txn.drop(dbs["ix_run_pipeline"], delete=False)
    put = txn.cursor(db=dbs["ix_run_pipeline"]).put
    for key, data in txn.cursor(db=dbs["runs"]):
        try:
            run = decode("runs", key, data, _StateOnly)
        except StoreCorrupt as exc:  # verify() names it; the rest is listed
            log.warning("store: run left out of ix_run_pipeline: %s", exc)
            continue
        put(join(run.pipeline, run.state) + SEP + key, b"")


def verify(txn: lmdb.Transaction[bytes], dbs: Dbs) -> list[str]:
    """See ``Store.verify``: each disagreement between records and indexes (empty: clean)."""
    problems: list[str] = []
    expected: dict[str, set[bytes]] = {
        "ix_run_artifacts": set(),
        "ix_stage_artifacts": set(),
        "ix_kind_artifacts": set(),
        "ix_tag_artifacts": set(),
        "ix_run_state": set(),
        "ix_task_state": set(),
        "ix_escalation_state": set(),
        "ix_run_pipeline": set(),
    }
    for key, data in txn.cursor(db=dbs["artifacts"]):
        try:
            h = decode("artifacts", key, data, Handoff)
        except StoreCorrupt as exc:
            problems.append(str(exc))
            continue
        expected["ix_run_artifacts"].add(h.run_id.encode() + SEP + key)
        expected["ix_stage_artifacts"].add(join(h.pipeline, h.stage) + SEP + key)
        expected["ix_kind_artifacts"].add(h.kind.encode() + SEP + key)
        for tag in h.tags:
            expected["ix_tag_artifacts"].add(tag.encode() + SEP + key)
    for db, index, tp in (
        ("runs", "ix_run_state", Run),
        ("tasks", "ix_task_state", TaskRecord),
        ("escalations", "ix_escalation_state", Escalation),
    ):
        for key, data in txn.cursor(db=dbs[db]):
            try:
                record: Any = decode(db, key, data, tp)
            except StoreCorrupt as exc:
                problems.append(str(exc))
                continue
            expected[index].add(record.state.encode() + SEP + key)
            if db == "runs":
                expected["ix_run_pipeline"].add(join(record.pipeline, record.state) + SEP + key)
    for index, want in expected.items():
        have = {k for k, _ in txn.cursor(db=dbs[index])}
        problems.extend(f"{index}: missing entry {k!r}" for k in sorted(want - have))
        problems.extend(f"{index}: dangling entry {k!r}" for k in sorted(have - want))
    # Retention may have pruned the journal's head: it starts at its first entry.
    previous: int | None = None
    for key, data in txn.cursor(db=dbs["journal"]):
        seq = int.from_bytes(key, "big")
        if previous is not None and seq != previous + 1:
            problems.append(f"journal: gap between {previous} and {seq}")
        previous = seq
        try:
            event = decode("journal", key, data, Event)
        except StoreCorrupt as exc:
            problems.append(str(exc))
            continue
        if event.seq != seq:
            problems.append(f"journal: event at {seq} says seq {event.seq}")
    return problems
