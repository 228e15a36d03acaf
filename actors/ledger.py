"""The decider's memory, and how runs and tasks change state in it.

Every change is made twice at once: in memory (runs that are active, tasks that are ready or
running, open escalations) and as a record in the decision's batch. The memory is the store
as it will be once the open decisions commit; the shell reloads it from the store (the
truth) when a commit fails.

Pure: no pykka, no lmdb, no clock (time is ``Decision.now``), no threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from handoffs.actors.checks import ValidOutput
from handoffs.actors.decision import (
    Capacity,
    Decision,
    Health,
    LiveTask,
    Queue,
    Start,
    StoreReader,
    Withdraw,
    render_instruction,
)
from handoffs.actors.events import HealthEvent
from handoffs.actors.pipelines import HUMAN, Pipelines, Stage
from handoffs.messages import (
    Escalation,
    EscalationReason,
    Feedback,
    Handoff,
    QualityMarkers,
    Run,
    TaskRecord,
)

__all__ = ["Ledger", "bump", "lease"]


class Ledger:
    """Active runs, live tasks, open escalations and the transitions between their states."""

    def __init__(
        self,
        pipelines: Pipelines,
        reader: StoreReader,
        capacity: Capacity,
        ids: Callable[[str], str],
    ) -> None:
        self.pipelines = pipelines
        self.reader = reader
        self.capacity = capacity
        self.ids = ids
        #: Active runs (running or escalated).
        self.runs: dict[str, Run] = {}
        #: Tasks ready or running, by task id.
        self.tasks: dict[str, LiveTask] = {}
        #: Open escalations, by id (each belongs to an escalated run).
        self.escalations: dict[str, Escalation] = {}
        #: Decoded outputs of active runs: what downstream tasks receive as inputs.
        self.payloads: dict[str, tuple[Any, QualityMarkers]] = {}
        #: Roles that are down: a task for one escalates at once.
        self.down: set[str] = set()
        #: Idempotency keys of runs decided but maybe not committed yet.
        self.staged_keys: dict[str, tuple[str, str]] = {}

    def load(self, runs: list[Run], escalations: list[Escalation], tasks: list[TaskRecord]) -> None:
        """Replace memory with what the store holds (active runs, open escalations, the
        pending tasks of active runs)."""
        self.runs = {run.run_id: run for run in runs}
        self.escalations = {e.id: e for e in escalations if e.run_id in self.runs}
        self.tasks = {t.task_id: LiveTask(t) for t in tasks if t.run_id in self.runs}
        self.payloads = {}
        self.staged_keys = {}

    # ----------------------------------------------------------------- runs

    def put_run(self, run: Run, d: Decision, **changes: Any) -> Run:
        """Stage ``run`` with ``changes`` (one copy of the struct) in memory and in ``d``."""
        old = self.runs.get(run.run_id)
        run = msgspec.structs.replace(run, updated_at=d.now, **changes)
        # Memory holds every active run, so a run not there is new.
        d.batch.put_run(run, was=None if old is None else old.state)
        if run.state in ("running", "escalated"):
            self.runs[run.run_id] = run
        else:
            self.runs.pop(run.run_id, None)
        if old is None or old.state != run.state:
            d.run_states.append((None if old is None else old.state, run.state))
        return run

    def start_run(
        self,
        pipeline: str,
        input: dict[str, Any],
        d: Decision,
        *,
        key: str | None = None,
        trigger_artifact: str | None = None,
    ) -> Run:
        spec = self.pipelines.pipelines[pipeline]
        run = Run(
            run_id=self.ids("run"),
            pipeline=pipeline,
            state="running",
            stage=spec.start,
            input=input,
            created_at=d.now,
            updated_at=d.now,
            idempotency_key=key,
            trigger_artifact=trigger_artifact,
        )
        d.batch.event(
            "run.submitted",
            run_id=run.run_id,
            pipeline=pipeline,
            artifact_id=trigger_artifact,
            detail="triggered" if trigger_artifact else "",
        )
        self.new_task(run, spec.start, d)
        return run

    def end_run(self, run: Run, state: str, d: Decision, *, reason: str | None = None) -> Run:
        run = self.put_run(run, d, state=state, stage=None, reason=reason)
        d.batch.event(f"run.{state}", run_id=run.run_id, pipeline=run.pipeline, detail=reason or "")
        d.run_revisions.append(sum(run.revisions.values()))
        for artifact_id in run.latest.values():
            self.payloads.pop(artifact_id, None)  # no task of this run will need them
        d.settles = True
        return run

    def advance(self, run: Run, nxt: str | None, d: Decision) -> None:
        if nxt is None:
            self.end_run(run, "completed", d)
        else:
            self.new_task(run, nxt, d)

    def next_action(self, run: Run, nxt: str | None) -> str:
        if nxt is None:
            return "complete the run"
        spec = self.pipelines.stage(run.pipeline, nxt).spec
        return f"{nxt}: {render_instruction(spec.instruction, run.input)}"

    # ----------------------------------------------------------------- handoffs

    def record(
        self,
        run: Run,
        stage_name: str,
        checked: ValidOutput,
        quality: QualityMarkers,
        d: Decision,
        *,
        produced_by: str,
        outcome: str,
        next_action: str,
        revision: int,
        attempt: int,
        task_id: str | None = None,
        tags: list[str] | None = None,
        feedback: list[Feedback] | None = None,
        latest: bool = False,
    ) -> tuple[Run, Handoff]:
        """Record an output of ``stage_name`` as a handoff; return the run with it counted
        (and, if ``latest``, as its stage's latest output) and the handoff."""
        spec = self.pipelines.stage(run.pipeline, stage_name).spec
        handoff = Handoff(
            id=self.ids("art"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage_name,
            kind=spec.output,
            next_action=next_action[:20_000],
            produced_by=produced_by,
            quality=quality,
            revision=revision,
            attempt=attempt,
            created_at=d.now,
            parents=list(run.latest.values())[-100:],
            tags=[*spec.tags, *tags] if tags else list(spec.tags),
            outcome=outcome,
            feedback=feedback or [],
            payload=msgspec.Raw(checked.payload),
        )
        d.batch.put_artifact(handoff, new=True)
        d.batch.event(
            "handoff.recorded",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage_name,
            task_id=task_id,
            artifact_id=handoff.id,
            attempt=attempt,
            detail=outcome,
        )
        run = bump(
            run,
            outputs=stage_name,
            handoffs=True,
            latest=(stage_name, handoff.id) if latest else None,
        )
        d.handoffs.append((run.pipeline, stage_name, outcome))
        return run, handoff

    def accepted(
        self, run: Run, handoff: Handoff, value: Any, quality: QualityMarkers, d: Decision
    ) -> None:
        """``handoff`` (an output worth ``value``) was accepted: downstream tasks get it, and
        the pipelines it triggers start."""
        self.payloads[handoff.id] = (value, quality)
        for pipeline, trigger in self.pipelines.triggers.get(handoff.kind, ()):
            if getattr(value, trigger.when, False) is True:
                self.start_run(pipeline, msgspec.to_builtins(value), d, trigger_artifact=handoff.id)

    # ----------------------------------------------------------------- tasks

    def new_task(
        self, run: Run, stage_name: str, d: Decision, *, feedback: list[Feedback] | None = None
    ) -> None:
        stage = self.pipelines.stage(run.pipeline, stage_name)
        role = stage.spec.role
        if role == HUMAN:  # no agent: a person approves, revises or cancels in the inbox
            self.escalate(
                run,
                stage_name,
                "approval",
                render_instruction(stage.spec.instruction, run.input)
                or f"{stage_name}: approve the run's work to go on",
                d,
                retry_stage=stage.spec.on_reject,
                approve_stage=stage.spec.next,
                artifact_id=run.latest.get(stage.spec.on_reject or ""),
                feedback=feedback or [],
            )
            return
        if role in self.down:
            self.escalate(
                run,
                stage_name,
                "role_down",
                f"role {role} is down; {stage_name} cannot run",
                d,
                retry_stage=stage_name,
                approve_stage=None,
                artifact_id=None,
                feedback=feedback or [],
            )
            return
        # Written running only when an agent can take it right after this commit: a task
        # that waits for room is written running when it is dispatched (attempts durable).
        starting = self.capacity.reserve(role)
        try:
            self._add_task(run, stage, stage_name, starting, feedback, d)
        except BaseException:  # nothing of it stays: the room it held goes back
            if starting:
                self.capacity.release(role)
            raise

    def _add_task(
        self,
        run: Run,
        stage: Stage,
        stage_name: str,
        starting: bool,
        feedback: list[Feedback] | None,
        d: Decision,
    ) -> None:
        role = stage.spec.role
        record = TaskRecord(
            task_id=self.ids("task"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage_name,
            role=role,
            state="running" if starting else "ready",
            revision=run.outputs.get(stage_name, 0),
            attempt=1,
            feedback=feedback or [],
            lease_deadline=lease(stage, d.now),
            created_at=d.now,
            updated_at=d.now,
        )
        d.batch.put_task(record, was=None)
        self.put_run(
            run,
            d,
            state="running",
            stage=stage_name,
            escalation_id=None,
            attempts={**run.attempts, stage_name: 1},
        )
        live = self.tasks[record.task_id] = LiveTask(record)
        d.effects.append(Start(live) if starting else Queue(live))

    def mark_running(self, live: LiveTask, d: Decision) -> None:
        """``live`` waited for room and an agent has it now (reserved): write it running
        (its attempt durable: a process that dies while an agent works on it counts that
        attempt), and dispatch it once that is committed."""
        rec = live.record
        live.record = msgspec.structs.replace(rec, state="running", updated_at=d.now)
        d.batch.put_task(live.record, was=rec.state)
        d.effects.append(Start(live))

    def finish_task(
        self, live: LiveTask, d: Decision, *, error: str | None = None, withdraw: bool = False
    ) -> None:
        """The task is done (its outcome decided, or no longer wanted: ``withdraw`` tells
        the agent that may hold it, after the commit)."""
        rec = live.record
        d.batch.put_task(
            was=rec.state,
            task=msgspec.structs.replace(
                rec,
                state="done",
                updated_at=d.now,
                lease_deadline=None,
                last_error=error[:20_000] if error else rec.last_error,
            ),
        )
        self.tasks.pop(rec.task_id, None)
        if withdraw:
            d.effects.append(Withdraw(live))

    # ----------------------------------------------------------------- escalations

    def escalate(
        self,
        run: Run,
        stage: str,
        reason: EscalationReason,
        summary: str,
        d: Decision,
        *,
        retry_stage: str | None,
        approve_stage: str | None,
        artifact_id: str | None,
        feedback: list[Feedback],
    ) -> None:
        history = [h.id for h in self.reader.run_handoffs(run.run_id)]
        history += [h.id for h, _, _ in d.batch.artifacts if h.run_id == run.run_id]
        escalation = Escalation(
            id=self.ids("esc"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage,
            reason=reason,
            summary=summary[:20_000],
            created_at=d.now,
            retry_stage=retry_stage,
            approve_stage=approve_stage,
            artifact_id=artifact_id,
            feedback=feedback[:100],
            history=history[-10_000:],
        )
        d.batch.put_escalation(escalation, was=None)
        self.escalations[escalation.id] = escalation
        run = self.put_run(run, d, state="escalated", stage=stage, escalation_id=escalation.id)
        d.batch.event(
            "run.escalated",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage,
            detail=f"{reason}: {summary}"[:20_000],
        )
        self.health(
            d, "escalation", pipeline=run.pipeline, stage=stage, run_id=run.run_id, reason=reason
        )
        d.escalations += 1
        d.settles = True

    def close_escalation(self, escalation: Escalation, d: Decision) -> None:
        """Store ``escalation`` (resolved); it is no longer open."""
        d.batch.put_escalation(escalation, was="open")
        self.escalations.pop(escalation.id, None)
        d.escalations -= 1

    def health(self, d: Decision, kind: str, **fields: str) -> None:
        d.effects.append(Health(HealthEvent(kind, **fields)))  # type: ignore[arg-type]


def lease(stage: Stage, start: float) -> float | None:
    timeout = stage.spec.timeout
    return None if timeout is None else start + timeout


def bump(
    run: Run,
    *,
    outputs: str | None = None,
    revisions: str | None = None,
    handoffs: bool = False,
    latest: tuple[str, str] | None = None,
) -> Run:
    """``run`` with counters bumped (and ``latest`` set: stage, artifact id), in one copy."""
    changes: dict[str, Any] = {}
    if outputs is not None:
        changes["outputs"] = {**run.outputs, outputs: run.outputs.get(outputs, 0) + 1}
    if revisions is not None:
        changes["revisions"] = {**run.revisions, revisions: run.revisions.get(revisions, 0) + 1}
    if handoffs:
        changes["handoffs"] = run.handoffs + 1
    if latest is not None:
        changes["latest"] = {**run.latest, latest[0]: latest[1]}
    return msgspec.structs.replace(run, **changes)
