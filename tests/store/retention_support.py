"""Stores full of runs for the retention and maintenance tests: each run as the runtime
writes it (run, tasks, handoffs with tags, an escalation, an idempotency key, journal
events), with the ids and times a test chooses."""

from __future__ import annotations

import msgspec
from handoffs.messages import (
    Draft,
    Escalation,
    Handoff,
    Resolution,
    Run,
    TaskRecord,
    encode_msgpack,
)
from handoffs.store import Batch, Store

DAY = 86_400.0
#: The times tests measure from: runs are made days before it.
NOW = 1_800_000_000.0


def make_id(prefix: str, at: float, n: int) -> str:
    """An id made at ``at`` (seconds), as ``new_id`` would have made it then."""
    return f"{prefix}-{int(at * 1e9):016x}{n:08x}"


def add_run(
    store: Store,
    n: int,
    *,
    state: str = "completed",
    started: float,
    ended: float | None = None,
    stages: int = 2,
    escalated_once: bool = False,
    key: str | None = None,
) -> str:
    """Commit run ``n`` of pipeline ``p`` with ``stages`` handoffs and their done tasks;
    ``escalated_once`` adds a resolved escalation (or an open one for an escalated run)."""
    ended = started + 1.0 if ended is None else ended
    run_id = make_id("run", started, n)
    b = Batch()
    latest = {}
    for s in range(stages):
        at = started + 0.01 * (s + 1)
        stage = f"s{s}"
        task = TaskRecord(
            task_id=make_id("task", at, n),
            run_id=run_id,
            pipeline="p",
            stage=stage,
            role="r",
            state="done" if state != "running" or s < stages - 1 else "running",
        )
        b.put_task(task, was=None)
        handoff = Handoff(
            id=make_id("art", at, n),
            run_id=run_id,
            pipeline="p",
            stage=stage,
            kind="Draft",
            next_action="",
            produced_by="test",
            tags=["t", f"m{n % 3}"],
            payload=msgspec.Raw(encode_msgpack(Draft(title=f"{n}", body="x" * 200))),
        )
        b.put_artifact(handoff, new=True)
        latest[stage] = handoff.id
        b.event("task.done", run_id=run_id, pipeline="p", stage=stage, task_id=task.task_id)
    escalation_id = None
    if escalated_once or state == "escalated":
        escalation_id = make_id("esc", started + 0.5, n)
        b.put_escalation(
            Escalation(
                id=escalation_id,
                run_id=run_id,
                pipeline="p",
                stage="s0",
                reason="revisions_exhausted",
                summary="s",
                state="open" if state == "escalated" else "resolved",
                resolution=None if state == "escalated" else Resolution(action="approve"),
            ),
            was=None,
        )
    b.put_run(
        Run(
            run_id=run_id,
            pipeline="p",
            state=state,  # type: ignore[arg-type]
            stage=None if state != "running" else f"s{stages - 1}",
            created_at=started,
            updated_at=ended,
            idempotency_key=key,
            latest=latest,
            escalation_id=escalation_id,
        ),
        was=None,
    )
    if key is not None:
        b.put_idempotency(key, run_id, "digest")
    b.event(f"run.{state}", run_id=run_id, pipeline="p")
    store.commit([b])
    return run_id


def orphans(store: Store) -> list[str]:
    """Tasks, escalations, handoffs and idempotency keys whose run is gone."""
    found = []
    for state in ("ready", "running", "done"):
        found += [f"task {t.task_id}" for t in store.tasks(state) if not store.get_run(t.run_id)]
    found += [
        f"escalation {e.id}"
        for e in store.escalations(state=None, limit=1 << 30).items
        if not store.get_run(e.run_id)
    ]
    return found
