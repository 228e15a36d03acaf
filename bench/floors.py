"""The floors: (d) the store's commit path without actors, (e) raw pykka without a store.

(d) builds, per decision, the records the orchestrator writes (the handoff with its payload
encoded once, the run, the finished and the next task, the journal events) and commits
``group`` decisions per LMDB write transaction, in lockstep: every run in the group advances
one stage per commit. It is the most our design can do at that group size.

(e) is four pykka actors passing each run along with ``tell``: the same stage functions, no
validation, no store, no orchestrator. It is the most pykka can do without durability.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import pykka
from handoffs.messages import Handoff, Run, TaskRecord, encode_msgpack, new_id
from handoffs.store import Batch, Store, StoreOptions

from bench import work
from bench.timing import Trace, Window, summarize

__all__ = ["run_pykka_chain", "run_store_only"]


class _StoreRun:
    """One run's state in the store-only loop."""

    __slots__ = ("run", "stage", "task", "trace")

    def __init__(self, run: Run, task: TaskRecord, now: float) -> None:
        self.run = run
        self.task = task
        self.stage = 0
        self.trace: list[float] = []  # commit times: the run's, then each output's


def _task(run: Run, stage: str, now: float) -> TaskRecord:
    return TaskRecord(
        task_id=new_id("task"), run_id=run.run_id, pipeline=run.pipeline, stage=stage,
        role=stage, state="running", created_at=now, updated_at=now,
    )  # fmt: skip


def _start(batch: Batch, i: int, now: float) -> _StoreRun:
    """Submit run ``i``: the run, its first task, the journal event."""
    run = Run(
        run_id=new_id("run"), pipeline="bench", stage="research", input={"topic": f"topic {i}"},
        created_at=now, updated_at=now,
    )  # fmt: skip
    task = _task(run, "research", now)
    batch.event("run.submitted", run_id=run.run_id, pipeline="bench")
    batch.put_task(task, was=None)
    batch.put_run(run, was=None)
    return _StoreRun(run, task, now)


def _output(stage: str, topic: str) -> msgspec.Struct:
    findings = work.research(topic)
    if stage == "research":
        return findings
    draft = work.write(findings)
    if stage == "write":
        return draft
    if stage == "review":
        return work.review(draft, reject=False)
    return work.publish(draft)


def _advance(batch: Batch, state: _StoreRun, now: float) -> None:
    """Record the current stage's output and hand off to the next (or complete the run)."""
    run, task = state.run, state.task
    stage = work.STAGES[state.stage]
    handoff = Handoff(
        id=new_id("art"), run_id=run.run_id, pipeline=run.pipeline, stage=stage,
        kind=type(_OUTPUTS[stage]).__name__, next_action="next", produced_by=f"{stage}/0.0",
        created_at=now, parents=list(run.latest.values()),
        payload=msgspec.Raw(encode_msgpack(_OUTPUTS[stage])),
    )  # fmt: skip
    batch.put_artifact(handoff, new=True)
    batch.event(
        "handoff.recorded", run_id=run.run_id, pipeline=run.pipeline, stage=stage,
        task_id=task.task_id, artifact_id=handoff.id, attempt=1, detail="accepted",
    )  # fmt: skip
    batch.put_task(msgspec.structs.replace(task, state="done", updated_at=now), was="running")
    latest = {**run.latest, stage: handoff.id}
    outputs = {**run.outputs, stage: 1}
    state.stage += 1
    if state.stage == len(work.STAGES):
        run = msgspec.structs.replace(
            run, state="completed", stage=None, latest=latest, outputs=outputs,
            handoffs=run.handoffs + 1, updated_at=now,
        )  # fmt: skip
        batch.put_run(run, was="running")
        batch.event("run.completed", run_id=run.run_id, pipeline=run.pipeline)
        return
    nxt = work.STAGES[state.stage]
    state.task = _task(run, nxt, now)
    batch.put_task(state.task, was=None)
    state.run = msgspec.structs.replace(
        run, stage=nxt, latest=latest, outputs=outputs, handoffs=run.handoffs + 1,
        updated_at=now,
    )  # fmt: skip
    batch.put_run(state.run, was="running")


_OUTPUTS = {stage: _output(stage, "topic") for stage in work.STAGES}


def run_store_only(params: dict[str, Any]) -> dict[str, Any]:
    """(d): ``group`` runs advance one decision per commit until ``duration`` has passed."""
    group: int = params["group"]
    options = StoreOptions(sync=params["sync"], map_size=1 << 30)
    finished: list[tuple[float, Trace]] = []
    commits = 0
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        store = Store.open(Path(d) / "kb", options)
        try:
            t_warm = time.time() + params["warmup"]
            t_stop = t_warm + params["duration"]
            active: list[_StoreRun | None] = [None] * group
            n = 0
            while True:
                now = time.time()
                stopping = now >= t_stop
                batches = []
                for slot, state in enumerate(active):
                    # The orchestrator's own fast path: keys it made need no checks.
                    batch = Batch(check=False)
                    if state is None:
                        if stopping:
                            continue
                        active[slot] = _start(batch, n, now)
                        n += 1
                    else:
                        _advance(batch, state, now)
                    batches.append(batch)
                if not batches:
                    break
                store.commit(batches)
                commits += 1
                done = time.time()
                for slot, state in enumerate(active):
                    if state is None:
                        continue
                    state.trace.append(done)
                    if state.stage == len(work.STAGES):
                        finished.append((done, tuple(state.trace)))
                        active[slot] = None
        finally:
            store.close()
    result = summarize(finished, (t_warm, t_stop))
    result["extra"] = {"commits": commits, "group_mean": float(group)}
    return result


class _Hop:
    """One run travelling along the chain."""

    __slots__ = ("output", "topic", "trace")

    def __init__(self, topic: str, trace: Trace) -> None:
        self.topic = topic
        self.trace = trace
        self.output: Any = None


class _StageActor(pykka.ThreadingActor):
    """Runs one stage's function and tells the next actor. Runs in its own thread."""

    def __init__(self, stage: str, after: Any) -> None:
        super().__init__()
        self._stage = stage
        self._after = after  # the next actor's ref, or the driver's finish callable

    def on_receive(self, message: _Hop) -> None:
        stage = self._stage
        if stage == "research":
            message.output = work.research(message.topic)
        elif stage == "write":
            message.output = work.write(message.output)
        elif stage == "review":
            draft = message.output
            work.review(draft, reject=False)
        else:
            message.output = work.publish(message.output)
        message.trace.append(time.time())
        after = self._after
        if isinstance(after, pykka.ActorRef):
            after.tell(message)
        else:
            after(message.trace)


def run_pykka_chain(params: dict[str, Any]) -> dict[str, Any]:
    """(e): ``window`` runs in flight along a 4-actor ``tell`` chain."""
    holder: list[Window] = []

    def finish(trace: Trace) -> None:
        holder[0].finish(trace)

    after: Any = finish
    refs = []
    for stage in reversed(work.STAGES):
        ref = _StageActor.start(stage, after)
        refs.append(ref)
        after = ref
    first: pykka.ActorRef[Any] = after

    def start(i: int) -> None:
        first.tell(_Hop(f"topic {i}", [time.time()]))

    holder.append(Window(start, window=params["window"], submitters=1))
    try:
        result = holder[0].run(warmup=params["warmup"], duration=params["duration"])
    finally:
        for ref in refs:
            ref.stop()
    result["extra"] = {}
    return result
