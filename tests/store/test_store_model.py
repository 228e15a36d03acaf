"""A state machine drives random batches into a store and a dict model; every query agrees."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from typing import Any, get_args

import msgspec
from factories import id_of
from handoffs.messages import (
    Draft,
    Escalation,
    Handoff,
    Resolution,
    Run,
    RunState,
    TaskRecord,
    TaskState,
    encode_msgpack,
)
from handoffs.store import Batch, Page, Store, StoreOptions
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

PIPELINES = ("blog", "support")
STAGES = ("research", "write", "review")
KINDS = ("Draft", "Verdict", "FAQEntry")
TAGS = ("a", "b", "urgent", "doc_gap")
RUN_STATES: tuple[str, ...] = get_args(RunState)
TASK_STATES: tuple[str, ...] = get_args(TaskState)
KEYS = ("order-1", "order-2", "order-3")

# Small id spaces, so puts often update an existing record (and move it between indexes).
run_ns = st.integers(0, 7)
task_ns = st.integers(0, 7)
esc_ns = st.integers(0, 5)
art_ns = st.integers(0, 9)


def artifact(
    n: int, run: int, pipeline: str, stage: str, kind: str, tags: list[str], size: int
) -> Handoff:
    return Handoff(
        id=id_of("art", n),
        run_id=id_of("run", run),
        pipeline=pipeline,
        stage=stage,
        kind=kind,
        next_action="",
        produced_by="model",
        tags=tags,
        payload=msgspec.Raw(encode_msgpack(Draft(title=str(n), body="x" * size))),
    )


class StoreModel(RuleBasedStateMachine):
    """Pending batches are mirrored by pending model updates, applied when a commit succeeds."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="handoffs-model-")
        # A tiny map, so growth happens under the machine too.
        self.options = StoreOptions(map_size=1 << 20, sync=False)
        self.store = Store.open(self.dir, self.options)
        self.runs: dict[str, Run] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.escalations: dict[str, Escalation] = {}
        self.artifacts: dict[str, Handoff] = {}
        self.idempotency: dict[str, tuple[str, str]] = {}
        self.journal: list[tuple[str, str | None, str]] = []
        self.batches: list[Batch] = [Batch()]
        self.pending: list[Callable[[], None]] = []
        self.page_size = 3
        self.dirty = True

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir)

    # ------------------------------------------------------------- building batches

    @property
    def batch(self) -> Batch:
        return self.batches[-1]

    @rule(
        runs=st.lists(
            st.tuples(run_ns, st.sampled_from(PIPELINES), st.sampled_from(RUN_STATES)),
            min_size=1,
            max_size=6,
        )
    )
    def put_runs(self, runs: list[tuple[int, str, Any]]) -> None:
        for n, pipeline, state in runs:
            record = Run(run_id=id_of("run", n), pipeline=pipeline, state=state, handoffs=n)
            self.batch.put_run(record)
            self.pending.append(partial(self.runs.__setitem__, record.run_id, record))

    @rule(
        tasks=st.lists(
            st.tuples(task_ns, run_ns, st.sampled_from(STAGES), st.sampled_from(TASK_STATES)),
            min_size=1,
            max_size=6,
        )
    )
    def put_tasks(self, tasks: list[tuple[int, int, str, Any]]) -> None:
        for n, run, stage, state in tasks:
            record = TaskRecord(
                task_id=id_of("task", n),
                run_id=id_of("run", run),
                pipeline="blog",
                stage=stage,
                role="writer",
                state=state,
            )
            self.batch.put_task(record)
            self.pending.append(partial(self.tasks.__setitem__, record.task_id, record))

    @rule(n=esc_ns, run=run_ns)
    def open_escalation(self, n: int, run: int) -> None:
        record = Escalation(
            id=id_of("esc", n),
            run_id=id_of("run", run),
            pipeline="blog",
            stage="review",
            reason="revisions_exhausted",
            summary=f"escalation {n}",
        )
        self.batch.put_escalation(record)
        self.pending.append(partial(self.escalations.__setitem__, record.id, record))

    @rule(n=esc_ns, action=st.sampled_from(["approve", "revise", "cancel"]))
    def resolve_escalation(self, n: int, action: str) -> None:
        old = self.escalations.get(id_of("esc", n))
        if old is None:
            return
        record = msgspec.structs.replace(
            old,
            state="resolved",
            resolution=Resolution(action=action),  # type: ignore[arg-type]
        )
        self.batch.put_escalation(record)
        self.pending.append(partial(self.escalations.__setitem__, record.id, record))

    @rule(
        artifacts=st.lists(
            st.builds(
                artifact,
                n=art_ns,
                run=run_ns,
                pipeline=st.sampled_from(PIPELINES),
                stage=st.sampled_from(STAGES),
                kind=st.sampled_from(KINDS),
                tags=st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
                size=st.sampled_from((0, 100, 3000)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def put_artifacts(self, artifacts: list[Handoff]) -> None:
        for record in artifacts:
            self.batch.put_artifact(record)
            self.pending.append(partial(self.artifacts.__setitem__, record.id, record))

    @rule(key=st.sampled_from(KEYS), run=run_ns, digest=st.text("0123456789abcdef", max_size=8))
    def put_idempotency(self, key: str, run: int, digest: str) -> None:
        self.batch.put_idempotency(key, id_of("run", run), digest)
        value = (id_of("run", run), digest)
        self.pending.append(partial(self.idempotency.__setitem__, key, value))

    @rule(type=st.sampled_from(["started", "handoff", "escalated"]), run=st.none() | run_ns)
    def event(self, type: str, run: int | None) -> None:
        run_id = None if run is None else id_of("run", run)
        detail = f"{type} #{len(self.pending)}"
        self.batch.event(type, run_id=run_id, detail=detail)
        self.pending.append(partial(self.journal.append, (type, run_id, detail)))

    @precondition(lambda self: len(self.batches) < 8)
    @rule()
    def new_batch(self) -> None:
        self.batches.append(Batch())

    # ------------------------------------------------------------- committing

    @rule()
    def commit(self) -> None:
        seq = self.store.commit(self.batches)
        for apply in self.pending:
            apply()
        assert seq == len(self.journal)
        self.batches, self.pending, self.dirty = [Batch()], [], True

    @rule()
    def abandon(self) -> None:
        self.batches, self.pending = [Batch()], []

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = Store.open(self.dir, self.options)
        assert self.store.last_seq == len(self.journal)
        self.dirty = True

    @rule(size=st.integers(1, 5))
    def page_size_is(self, size: int) -> None:
        self.page_size, self.dirty = size, True

    # ------------------------------------------------------------- the invariant

    def collect(self, query: Callable[..., Page], **selector: Any) -> list[Any]:
        items: list[Any] = []
        cursor = None
        while True:
            page = query(limit=self.page_size, cursor=cursor, **selector)
            assert len(page.items) <= self.page_size
            items.extend(page.items)
            if page.cursor is None:
                return items
            assert page.items, "a cursor must come with items"
            cursor = page.cursor

    @invariant()
    def queries_agree_with_the_model(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        s = self.store

        runs = [self.runs[k] for k in sorted(self.runs)]
        tasks = [self.tasks[k] for k in sorted(self.tasks)]
        escalations = [self.escalations[k] for k in sorted(self.escalations)]
        artifacts = [self.artifacts[k] for k in sorted(self.artifacts)]

        for n in range(8):
            assert s.get_run(id_of("run", n)) == self.runs.get(id_of("run", n))
            assert s.get_task(id_of("task", n)) == self.tasks.get(id_of("task", n))
        for n in range(6):
            assert s.get_escalation(id_of("esc", n)) == self.escalations.get(id_of("esc", n))
        for n in range(10):
            assert s.get_artifact(id_of("art", n)) == self.artifacts.get(id_of("art", n))
        for key in KEYS:
            record = s.get_idempotency(key)
            got = None if record is None else (record.run_id, record.digest)
            assert got == self.idempotency.get(key)

        assert self.collect(s.runs) == runs
        for state in RUN_STATES:
            assert self.collect(s.runs, state=state) == [r for r in runs if r.state == state]
        for p in PIPELINES:
            assert self.collect(s.runs, pipeline=p, state="running") == [
                r for r in runs if r.pipeline == p and r.state == "running"
            ]
        for state in TASK_STATES:
            assert s.tasks(state) == [t for t in tasks if t.state == state]
        assert s.pending_tasks() == [t for t in tasks if t.state != "done"]
        for state in ("open", "resolved"):
            assert self.collect(s.escalations, state=state) == [
                e for e in escalations if e.state == state
            ]
        assert self.collect(s.escalations, state=None) == escalations

        for n in range(8):
            run_id = id_of("run", n)
            assert self.collect(s.artifacts, run_id=run_id) == [
                h for h in artifacts if h.run_id == run_id
            ]
        for p in PIPELINES:
            assert self.collect(s.artifacts, pipeline=p) == [
                h for h in artifacts if h.pipeline == p
            ]
            for stage in STAGES:
                assert self.collect(s.artifacts, pipeline=p, stage=stage) == [
                    h for h in artifacts if (h.pipeline, h.stage) == (p, stage)
                ]
        for kind in KINDS:
            assert self.collect(s.artifacts, kind=kind) == [h for h in artifacts if h.kind == kind]
        for tag in TAGS:
            assert self.collect(s.artifacts, tag=tag) == [h for h in artifacts if tag in h.tags]

        journal = [(e.seq, e.type, e.run_id, e.detail) for e in s.journal()]
        assert journal == [(i, *entry) for i, entry in enumerate(self.journal, 1)]
        for after in {0, len(journal) // 2, len(journal)}:
            tail = s.journal(after=after, limit=self.page_size)
            assert [e.seq for e in tail] == list(range(after + 1, len(journal) + 1))[
                : self.page_size
            ]
        assert s.last_seq == len(self.journal)

        entries = s.statistics().entries
        counts = [entries[db] for db in ("runs", "tasks", "escalations", "artifacts")]
        assert counts == [len(runs), len(tasks), len(escalations), len(artifacts)]
        assert s.verify() == []


TestStoreModel = StoreModel.TestCase
TestStoreModel.settings = settings(max_examples=40, stateful_step_count=50, deadline=None)
