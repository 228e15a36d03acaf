"""Retention: old finished runs go with everything that hangs off them; nothing else does."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from handoffs.store import Batch, RetentionPolicy, Store, parse_duration, prune
from retention_support import DAY, NOW, add_run, orphans


def test_old_finished_runs_go_with_their_records_and_index_entries(store: Store) -> None:
    old = [add_run(store, n, started=NOW - 40 * DAY, key=f"k{n}") for n in range(5)]
    old_escalated = add_run(store, 5, started=NOW - 40 * DAY, escalated_once=True)
    recent = add_run(store, 6, started=NOW - 2 * DAY, key="k6")
    running = add_run(store, 7, state="running", started=NOW - 100 * DAY)
    escalated = add_run(store, 8, state="escalated", started=NOW - 100 * DAY)
    failed = add_run(store, 9, state="failed", started=NOW - 40 * DAY)

    report = prune(store, RetentionPolicy(completed=30 * DAY), now=NOW)

    assert (report.runs, report.handoffs, report.tasks, report.escalations) == (6, 12, 12, 1)
    assert report.idempotency_keys == 5
    for run_id in [*old, old_escalated]:
        assert store.get_run(run_id) is None
        assert store.run_handoffs(run_id) == []
    assert [r.run_id for r in store.runs(limit=100).items] == [running, escalated, failed, recent]
    assert [store.get_idempotency(f"k{n}") for n in range(5)] == [None] * 5
    assert store.get_idempotency("k6") is not None
    assert store.artifacts(kind="Draft", limit=100).cursor is None
    assert len(store.artifacts(tag="t", limit=100).items) == 8
    assert len(store.artifacts(pipeline="p", stage="s0", limit=100).items) == 4
    assert store.count_runs() == {"completed": 1, "running": 1, "escalated": 1, "failed": 1}
    assert [e.run_id for e in store.escalations(state=None, limit=10).items] == [escalated]
    assert store.verify() == []
    assert orphans(store) == []


def test_failed_and_cancelled_runs_follow_retain_failed(store: Store) -> None:
    failed = add_run(store, 0, state="failed", started=NOW - 100 * DAY)
    cancelled = add_run(store, 1, state="cancelled", started=NOW - 100 * DAY)
    young = add_run(store, 2, state="failed", started=NOW - 60 * DAY)
    done = add_run(store, 3, started=NOW - 100 * DAY)

    report = prune(store, RetentionPolicy(failed=90 * DAY), now=NOW)

    assert report.runs == 2
    assert store.get_run(failed) is None and store.get_run(cancelled) is None
    assert [r.run_id for r in store.runs(limit=10).items] == [done, young]
    assert store.verify() == []
    assert orphans(store) == []


def test_a_run_is_aged_from_when_it_ended_not_when_it_started(store: Store) -> None:
    long = add_run(store, 0, started=NOW - 90 * DAY, ended=NOW - 10 * DAY)
    short = add_run(store, 1, started=NOW - 80 * DAY)

    prune(store, RetentionPolicy(completed=30 * DAY), now=NOW)

    assert [r.run_id for r in store.runs(limit=10).items] == [long]
    assert store.get_run(short) is None
    assert len(store.run_handoffs(long)) == 2  # its tasks and handoffs stay with it
    assert len(store.tasks("done")) == 2
    assert store.verify() == []


def test_small_transactions_and_a_pass_stopped_halfway_finishes_next_time(store: Store) -> None:
    for n in range(23):
        add_run(store, n, started=NOW - 40 * DAY)
    passes = itertools.chain([False] * 3, itertools.repeat(True))

    first = prune(
        store, RetentionPolicy(completed=DAY), now=NOW, batch=5, stop=lambda: next(passes)
    )
    second = prune(store, RetentionPolicy(completed=DAY), now=NOW, batch=5)

    assert (first.runs, first.transactions, first.stopped) == (15, 3, True)
    assert (second.runs, first.runs + second.runs) == (8, 23)
    assert store.count_runs() == {}
    assert store.verify() == []
    assert orphans(store) == []
    assert store.statistics().entries["tasks"] == 0


def test_the_journal_is_trimmed_from_its_head_and_keeps_numbering(store_path: Path) -> None:
    with Store.open(store_path) as store:
        for n in range(10):
            add_run(store, n, started=NOW - 40 * DAY)
        last = store.last_seq
        # Journal entries carry the real commit time: a window of 0 takes all but the newest.
        report = prune(store, RetentionPolicy(journal=0.0), now=time.time() + 1)
        assert report.journal == last - 1
        assert [e.seq for e in store.journal(after=0)] == [last]
        assert store.verify() == []
        assert report.runs == 0  # the journal alone: no run retention was given
    with Store.open(store_path) as store:
        assert store.last_seq == last
        b = Batch()
        b.event("note")
        assert store.commit([b]) == last + 1
        # A tail whose cursor is behind the head gets what is left, from the oldest kept.
        assert [e.seq for e in store.journal(after=3)] == [last, last + 1]
        assert store.verify() == []


def test_the_journal_window_defaults_to_the_shortest_run_age() -> None:
    assert RetentionPolicy(completed=30 * DAY, failed=90 * DAY).journal_age() == 30 * DAY
    assert RetentionPolicy(failed=90 * DAY, journal=DAY).journal_age() == DAY
    assert RetentionPolicy().journal_age() is None
    assert not RetentionPolicy().active


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("30m", 1800), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "3w", "1 d", "1e9d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^'.*' is not a duration: a number and s, m, h or d"):
        parse_duration(text)
