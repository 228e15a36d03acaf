"""Small valid records for store tests: ``run(1)``, ``task(1, run=1)``, ``handoff(1, run=1)``."""

from __future__ import annotations

from typing import Any

import msgspec
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

__all__ = ["escalation", "handoff", "id_of", "run", "task"]


def id_of(prefix: str, n: int) -> str:
    """A valid id that sorts by ``n``: ``id_of("run", 3) == "run-000...003"``."""
    return f"{prefix}-{n:024x}"


def run(n: int, *, pipeline: str = "blog", state: RunState = "running", **kw: Any) -> Run:
    return Run(run_id=id_of("run", n), pipeline=pipeline, state=state, **kw)


def task(
    n: int, *, run: int = 0, stage: str = "write", state: TaskState = "ready", **kw: Any
) -> TaskRecord:
    return TaskRecord(
        task_id=id_of("task", n),
        run_id=id_of("run", run),
        pipeline=kw.pop("pipeline", "blog"),
        stage=stage,
        role=kw.pop("role", "writer"),
        state=state,
        **kw,
    )


def handoff(
    n: int,
    *,
    run: int = 0,
    pipeline: str = "blog",
    stage: str = "write",
    kind: str = "Draft",
    tags: list[str] | None = None,
    body: str = "",
) -> Handoff:
    return Handoff(
        id=id_of("art", n),
        run_id=id_of("run", run),
        pipeline=pipeline,
        stage=stage,
        kind=kind,
        next_action="review",
        produced_by="writer",
        tags=tags or [],
        payload=msgspec.Raw(encode_msgpack(Draft(title=f"draft {n}", body=body))),
    )


def escalation(n: int, *, run: int = 0, resolved: bool = False) -> Escalation:
    return Escalation(
        id=id_of("esc", n),
        run_id=id_of("run", run),
        pipeline="blog",
        stage="review",
        reason="revisions_exhausted",
        summary="three rejections",
        state="resolved" if resolved else "open",
        resolution=Resolution(action="approve") if resolved else None,
    )
