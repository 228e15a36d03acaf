"""The knowledge base's reads, writes and refusals, one behaviour per test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lmdb
import msgspec
import pytest
from factories import escalation, handoff, id_of, run, task
from handoffs.messages import ID_PATTERN, NAME_PATTERN, Escalation, Handoff, Run, TaskRecord
from handoffs.store import Batch, InvalidKey, Store, StoreClosed, StoreCorrupt, StoreIOError
from msgspec.structs import replace

Stored = Run | TaskRecord | Handoff | Escalation


def commit(store: Store, *records: Stored, events: int = 0) -> int:
    batch = Batch()
    for record in records:
        match record:
            case Run():
                batch.put_run(record)
            case TaskRecord():
                batch.put_task(record)
            case Handoff():
                batch.put_artifact(record)
            case Escalation():
                batch.put_escalation(record)
    for i in range(events):
        batch.event("test", run_id=id_of("run", i), detail=str(i))
    return store.commit([batch])


def test_records_read_back_as_written(store: Store) -> None:
    records = [run(1), task(1, run=1), handoff(1, run=1, tags=["x"]), escalation(1, run=1)]
    assert commit(store, *records, events=2) == 2
    assert store.get_run(id_of("run", 1)) == records[0]
    assert store.get_task(id_of("task", 1)) == records[1]
    assert store.get_artifact(id_of("art", 1)) == records[2]
    assert store.get_escalation(id_of("esc", 1)) == records[3]
    assert store.get_run(id_of("run", 2)) is None
    assert [(e.seq, e.detail) for e in store.journal()] == [(1, "0"), (2, "1")]


def test_a_state_change_moves_the_record_between_index_entries(store: Store) -> None:
    commit(store, run(1), run(2))
    commit(store, run(1, state="completed"))
    assert [r.run_id for r in store.runs(state="running").items] == [id_of("run", 2)]
    assert [r.run_id for r in store.runs(state="completed").items] == [id_of("run", 1)]
    assert store.verify() == []


def test_recording_an_artifact_again_replaces_its_index_entries(store: Store) -> None:
    commit(store, handoff(1, run=1, kind="Draft", tags=["a", "b"]))
    commit(store, handoff(1, run=2, kind="Verdict", stage="review", tags=["c"]))
    assert store.artifacts(tag="a").items == []
    assert store.artifacts(run_id=id_of("run", 1)).items == []
    assert store.artifacts(pipeline="blog", stage="write").items == []
    assert [h.id for h in store.artifacts(tag="c").items] == [id_of("art", 1)]
    assert [h.id for h in store.artifacts(kind="Verdict").items] == [id_of("art", 1)]
    assert store.verify() == []


def test_pages_follow_the_cursor_in_id_order(store: Store) -> None:
    commit(store, *(handoff(n, run=n % 2, tags=["t"]) for n in (5, 3, 9, 1, 7)))
    first = store.artifacts(tag="t", limit=2)
    second = store.artifacts(tag="t", limit=2, cursor=first.cursor)
    third = store.artifacts(tag="t", limit=2, cursor=second.cursor)
    pages = [[h.id for h in p.items] for p in (first, second, third)]
    assert pages == [[id_of("art", n) for n in ns] for ns in ((1, 3), (5, 7), (9,))]
    assert third.cursor is None


def test_idempotency_keys_bind_a_run_and_a_digest(store: Store) -> None:
    batch = Batch()
    batch.put_idempotency("order-42", id_of("run", 1), "sha256:abc")
    store.commit([batch])
    record = store.get_idempotency("order-42")
    assert record is not None
    assert (record.run_id, record.digest) == (id_of("run", 1), "sha256:abc")
    assert store.get_idempotency("order-43") is None


def test_a_failed_commit_writes_nothing(store: Store) -> None:
    good = Batch()
    good.put_run(run(1))
    good.event("started", run_id=id_of("run", 1))
    bad = Batch()
    bad.put_run(run(2))
    # Past the checks in put_*: an empty key, which LMDB refuses inside the transaction.
    bad.idempotency.append((b"", b""))
    with pytest.raises(StoreIOError, match=r"^commit failed in .*MDB_BAD_VALSIZE.*$"):
        store.commit([good, bad])
    assert store.get_run(id_of("run", 1)) is None
    assert store.journal() == []
    assert store.last_seq == 0
    assert store.statistics().commits == 0
    assert store.verify() == []


# ----------------------------------------------------------------- bad keys

BAD_ID = "run-XYZ"
ID_RE = re.escape(ID_PATTERN)
NAME_RE = re.escape(NAME_PATTERN)


@pytest.mark.parametrize(
    ("put", "message"),
    [
        (
            lambda b: b.put_run(Run(run_id=BAD_ID, pipeline="blog")),
            rf"^invalid run id 'run-XYZ': expected {ID_RE}$",
        ),
        (
            lambda b: b.put_run(run(1, pipeline="has space")),
            rf"^invalid pipeline 'has space': expected {NAME_RE}$",
        ),
        (
            lambda b: b.put_task(replace(task(1, run=1), task_id="t-1")),
            rf"^invalid task id 't-1': expected {ID_RE}$",
        ),
        (
            lambda b: b.put_artifact(handoff(1, tags=["ok", "not ok"])),
            rf"^invalid tag 'not ok': expected {NAME_RE}$",
        ),
        (
            lambda b: b.put_artifact(handoff(1, stage="a\x00b")),
            rf"^invalid stage 'a\\x00b': expected {NAME_RE}$",
        ),
        (
            lambda b: b.put_artifact(handoff(1, kind="k" * 65)),
            rf"^invalid kind '{'k' * 65}': expected {NAME_RE}$",
        ),
        (
            lambda b: b.put_escalation(replace(escalation(1), id="")),
            rf"^invalid escalation id '': expected {ID_RE}$",
        ),
        (
            lambda b: b.put_idempotency("has space", id_of("run", 1), "d"),
            r"^invalid idempotency key 'has space': expected \^\[\\x21-\\x7e\]\{1,200\}\$$",
        ),
        (
            lambda b: b.put_idempotency("\U0001f600" * 200, id_of("run", 1), "d"),
            r"^invalid idempotency key '\U0001f600+': expected .*$",
        ),
        (
            lambda b: b.event("x", run_id="r-1"),
            rf"^invalid event 'x': Expected `str` matching regex '{ID_RE}' - at `\$\.run_id`$",
        ),
        (
            lambda b: b.event("x", attempt=0),
            r"^invalid event 'x': Expected `int` >= 1 - at `\$\.attempt`$",
        ),
        (
            lambda b: b.event("x" * 201),
            r"^invalid event 'x+': Expected `str` of length <= 200 - at `\$\.type`$",
        ),
    ],
    ids=[
        "run-id",
        "pipeline",
        "task-id",
        "tag",
        "stage-nul",
        "kind-too-long",
        "escalation-id",
        "idempotency-space",
        "idempotency-too-long",
        "event-run-id",
        "event-attempt",
        "event-type",
    ],
)
def test_batches_refuse_invalid_keys(put: Any, message: str) -> None:
    batch = Batch()
    with pytest.raises(InvalidKey, match=message):
        put(batch)
    assert len(batch) == 0


def test_an_unknown_event_field_is_refused_when_added() -> None:
    with pytest.raises(TypeError, match=r"^Unexpected keyword argument 'runid'$"):
        Batch().event("x", runid=id_of("run", 1))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (lambda s: s.get_run("nope"), rf"^invalid run id 'nope': expected {ID_RE}$"),
        (lambda s: s.get_task("RUN-1"), rf"^invalid task id 'RUN-1': expected {ID_RE}$"),
        (lambda s: s.get_artifact(""), rf"^invalid artifact id '': expected {ID_RE}$"),
        (lambda s: s.get_escalation("e"), rf"^invalid escalation id 'e': expected {ID_RE}$"),
        (lambda s: s.get_idempotency(""), r"^invalid idempotency key '': expected .*$"),
        (
            lambda s: s.runs(state="not a state"),
            rf"^invalid state 'not a state': expected {NAME_RE}$",
        ),
        (lambda s: s.runs(pipeline="a/b"), rf"^invalid pipeline 'a/b': expected {NAME_RE}$"),
        (lambda s: s.runs(cursor="x"), rf"^invalid cursor 'x': expected {ID_RE}$"),
        (lambda s: s.tasks(""), rf"^invalid state '': expected {NAME_RE}$"),
        (lambda s: s.escalations(state="a b"), rf"^invalid state 'a b': expected {NAME_RE}$"),
        (
            lambda s: s.escalations(state=None, cursor="c"),
            rf"^invalid cursor 'c': expected {ID_RE}$",
        ),
        (lambda s: s.artifacts(run_id="r"), rf"^invalid run id 'r': expected {ID_RE}$"),
        (lambda s: s.artifacts(tag="a b"), rf"^invalid tag 'a b': expected {NAME_RE}$"),
        (lambda s: s.artifacts(kind=""), rf"^invalid kind '': expected {NAME_RE}$"),
        (
            lambda s: s.artifacts(pipeline="p", stage="s s"),
            rf"^invalid stage 's s': expected {NAME_RE}$",
        ),
        (lambda s: s.artifacts(pipeline="p q"), rf"^invalid pipeline 'p q': expected {NAME_RE}$"),
        (lambda s: s.artifacts(kind="k", cursor="z"), rf"^invalid cursor 'z': expected {ID_RE}$"),
    ],
)
def test_queries_refuse_invalid_keys(store: Store, query: Any, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        query(store)


def test_artifacts_need_exactly_one_selector(store: Store) -> None:
    message = r"^select artifacts by exactly one of run_id, pipeline\[\+stage\], kind, tag$"
    with pytest.raises(ValueError, match=message):
        store.artifacts()
    with pytest.raises(ValueError, match=message):
        store.artifacts(kind="Draft", tag="x")
    with pytest.raises(ValueError, match=message):
        store.artifacts(stage="write")


def test_journal_after_a_negative_seq_starts_at_the_beginning(store: Store) -> None:
    commit(store, events=2)
    assert [e.seq for e in store.journal(after=-5)] == [1, 2]


# ----------------------------------------------------------------- corrupt bytes


SEP = b"\x00"
GARBAGE_ERROR = "MessagePack data is malformed: invalid opcode '\\xc1' (byte 0)"


def test_corrupt_bytes_raise_store_corrupt_naming_db_and_key(store_path: Path) -> None:
    with Store.open(store_path) as store:
        commit(store, run(1), run(2))
    key = id_of("run", 1).encode()
    env = lmdb.open(str(store_path), max_dbs=32)
    try:
        with env.begin(write=True) as txn:
            txn.put(key, b"\xc1garbage", db=env.open_db(b"runs", txn=txn))
    finally:
        env.close()
    message = f"corrupt record in 'runs' at key {key!r}: {GARBAGE_ERROR}"
    with Store.open(store_path) as store:
        with pytest.raises(StoreCorrupt, match=rf"^{re.escape(message)}$") as info:
            store.get_run(id_of("run", 1))
        assert (info.value.db, info.value.key) == ("runs", key)
        assert isinstance(info.value.__cause__, msgspec.DecodeError)
        assert store.get_run(id_of("run", 2)) == run(2)
        with pytest.raises(StoreCorrupt):
            store.runs()
        dangling = b"running" + SEP + key
        by_pipeline = b"blog" + SEP + dangling
        assert store.verify() == [
            message,
            f"ix_run_state: dangling entry {dangling!r}",
            f"ix_run_pipeline: dangling entry {by_pipeline!r}",
        ]


def test_a_closed_store_refuses_every_call(store_path: Path) -> None:
    store = Store.open(store_path)
    store.close()
    store.close()  # idempotent
    assert store.closed
    message = rf"^store {re.escape(str(store_path))} is closed$"
    with pytest.raises(StoreClosed, match=message):
        store.get_run(id_of("run", 1))
    with pytest.raises(StoreClosed, match=message):
        store.commit([Batch()])


def test_the_journal_decodes_only_the_fields_asked_for(store: Store) -> None:
    import msgspec

    class Mark(msgspec.Struct):
        seq: int
        type: str

    batch = Batch()
    batch.event("run.submitted", run_id=id_of("run", 1), detail="x" * 100)
    batch.event("run.completed", run_id=id_of("run", 1))
    store.commit([batch])
    assert store.journal(fields=Mark) == [Mark(1, "run.submitted"), Mark(2, "run.completed")]
    assert [e.detail for e in store.journal()] == ["x" * 100, ""]


def test_subscribers_get_each_commits_events_as_stored(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[list[int]] = []

    def broken(_events: object) -> None:
        raise RuntimeError("listener bug")

    unsubscribe = store.subscribe(lambda events: seen.append([e.seq for e in events]))
    store.subscribe(broken)
    commit(store, events=2)
    commit(store, run(1))  # no events: listeners are not called
    commit(store, events=1)
    assert seen == [[1, 2], [3]]
    assert [e.seq for e in store.journal()] == [1, 2, 3]
    assert "listener bug" in caplog.text
    unsubscribe()
    commit(store, events=1)
    assert seen == [[1, 2], [3]]


def test_a_commit_retried_after_the_map_grew_reports_its_events_once(tmp_path: Path) -> None:
    from handoffs.store import StoreOptions

    small = Store.open(tmp_path / "kb", StoreOptions(map_size=1 << 20, max_map_size=1 << 26))
    try:
        seen: list[int] = []
        small.subscribe(lambda events: seen.extend(e.seq for e in events))
        batch = Batch()
        for i in range(3000):
            batch.event("test", run_id=id_of("run", i), detail="x" * 500)
        small.commit([batch])
        assert small.statistics().resizes >= 1
        assert seen == list(range(1, 3001))
    finally:
        small.close()


def test_applied_is_called_once_the_records_are_in_the_transaction(store: Store) -> None:
    calls: list[int] = []
    batch = Batch()
    batch.put_run(run(1))
    store.commit([batch], applied=lambda: calls.append(store.statistics().commits))
    assert calls == [0]  # before the commit counted
    assert store.get_run(id_of("run", 1)) is not None
