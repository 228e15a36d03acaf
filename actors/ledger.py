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
from handoffs.actors.decision import (
    Capacity,
    Decision,
    Health,
    Later,
    LiveTask,
    Queue,
    Start,
    StoreReader,
    Withdraw,
    render_instruction,
)
from handoffs.actors.events import ApprovalExpired, HealthEvent
from handoffs.actors.pipelines import HUMAN, Pipelines, Stage
from handoffs.actors.topology import item_key
from handoffs.messages import (
    Escalation,
    EscalationReason,
    Feedback,
    QualityMarkers,
    Resolution,
    Run,
    TaskRecord,
)

__all__ = ["Ledger", "lease"]


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
        #: Per active run: its live tasks, and its open escalations (ids; a run with
        #: branches may have several of each).
        self.run_tasks: dict[str, set[str]] = {}
        self.run_escalations: dict[str, set[str]] = {}

    def load(self, runs: list[Run], escalations: list[Escalation], tasks: list[TaskRecord]) -> None:
        """Replace memory with what the store holds (active runs, open escalations, the
        pending tasks of active runs)."""
        self.runs = {run.run_id: run for run in runs}
        self.escalations = {e.id: e for e in escalations if e.run_id in self.runs}
        self.tasks = {t.task_id: LiveTask(t) for t in tasks if t.run_id in self.runs}
        self.payloads = {}
        self.staged_keys = {}
        self.run_tasks = {}
        for t in self.tasks.values():
            self.run_tasks.setdefault(t.record.run_id, set()).add(t.record.task_id)
        self.run_escalations = {}
        for e in self.escalations.values():
            self.run_escalations.setdefault(e.run_id, set()).add(e.id)

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
            pipeline_version=self.pipelines.versions.get(pipeline),
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
        """The run ends ``state``; whatever of it is still going (other branches' tasks, their
        open escalations) stops with it."""
        why = f"run {state}" + (f": {reason}" if reason else "")
        self.stop(run.run_id, d, error=why, feedback=reason or f"run {state}")
        run = self.put_run(run, d, state=state, stage=None, reason=reason)
        d.batch.event(f"run.{state}", run_id=run.run_id, pipeline=run.pipeline, detail=reason or "")
        d.run_revisions.append(sum(run.revisions.values()))
        for artifact_id in run.latest.values():
            self.payloads.pop(artifact_id, None)  # no task of this run will need them
        self.run_tasks.pop(run.run_id, None)
        self.run_escalations.pop(run.run_id, None)
        d.settles = True
        return run

    def stop(
        self,
        run_id: str,
        d: Decision,
        *,
        error: str,
        feedback: str,
        only: Callable[[str], bool] | None = None,
    ) -> None:
        """What of the run is still going stops: its live tasks are finished with
        ``error`` (their agents told after the commit) and its open escalations closed as
        cancelled with ``feedback``; those of the stages ``only`` accepts, if given."""
        for task_id in sorted(self.run_tasks.get(run_id) or ()):
            live = self.tasks[task_id]
            if only is None or only(live.record.stage):
                self.finish_task(live, d, error=error, withdraw=True)
        for escalation_id in sorted(self.run_escalations.get(run_id) or ()):
            escalation = self.escalations[escalation_id]
            if only is None or only(escalation.stage):
                resolution = Resolution(action="cancel", feedback=feedback[:20_000], at=d.now)
                self.close_escalation(
                    msgspec.structs.replace(escalation, state="resolved", resolution=resolution),
                    d,
                )

    def settle(self, run: Run, d: Decision) -> Run:
        """Store ``run`` (if it changed since it was stored), escalated while it has an open
        escalation, else running."""
        open_ids = self.run_escalations.get(run.run_id)
        state = "escalated" if open_ids else "running"
        escalation = run.escalation_id if run.escalation_id in (open_ids or ()) else None
        if open_ids and escalation is None:
            escalation = max(open_ids)
        stored = self.runs.get(run.run_id) is run
        if stored and (run.state, run.escalation_id) == (state, escalation):
            return run
        return self.put_run(run, d, state=state, escalation_id=escalation)

    # ----------------------------------------------------------------- tasks

    def new_task(
        self,
        run: Run,
        stage_name: str,
        d: Decision,
        *,
        feedback: list[Feedback] | None = None,
        item: int | None = None,
        item_value: Any = None,
    ) -> Run:
        """A task for ``stage_name`` (for ``item`` of its map branch, if it is in one);
        return the run as stored."""
        stage = self.pipelines.stage(run.pipeline, stage_name)
        role = stage.spec.role
        if role == HUMAN:  # no agent: a person approves, revises or cancels in the inbox
            target = stage.spec.on_reject
            run = self.escalate(
                run,
                stage_name,
                "approval",
                render_instruction(stage.spec.instruction, run.input)
                or f"{stage_name}: approve the run's work to go on",
                d,
                retry_stage=target,
                approve_stage=stage.targets[0] if len(stage.targets) == 1 else None,
                artifact_id=run.latest.get(item_key(target, item)) if target else None,
                feedback=feedback or [],
                item=item,
            )
            if stage.spec.timeout is not None and run.escalation_id is not None:
                expired = ApprovalExpired(run.escalation_id)
                d.effects.append(Later(expired, stage.spec.timeout))
            return run
        if role in self.down:
            return self.escalate(
                run,
                stage_name,
                "role_down",
                f"role {role} is down; {stage_name} cannot run",
                d,
                retry_stage=stage_name,
                approve_stage=None,
                artifact_id=None,
                feedback=feedback or [],
                item=item,
            )
        # Written running only when an agent can take it right after this commit: a task
        # that waits for room is written running when it is dispatched (attempts durable).
        starting = self.capacity.reserve(role)
        try:
            return self._add_task(run, stage, starting, feedback, item, item_value, d)
        except BaseException:  # nothing of it stays: the room it held goes back
            if starting:
                self.capacity.release(role)
            raise

    def _add_task(
        self,
        run: Run,
        stage: Stage,
        starting: bool,
        feedback: list[Feedback] | None,
        item: int | None,
        item_value: Any,
        d: Decision,
    ) -> Run:
        key = item_key(stage.name, item)
        record = TaskRecord(
            task_id=self.ids("task"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage.name,
            role=stage.spec.role,
            state="running" if starting else "ready",
            revision=run.outputs.get(key, 0),
            attempt=1,
            feedback=feedback or [],
            lease_deadline=lease(stage, d.now),
            created_at=d.now,
            updated_at=d.now,
            item=item,
            item_value=item_value,
        )
        d.batch.put_task(record, was=None)
        # A run with another branch waiting for a person stays escalated (naming one that
        # is still open).
        escalated = self.run_escalations.get(run.run_id)
        escalation = None
        if escalated:
            escalation = run.escalation_id if run.escalation_id in escalated else max(escalated)
        run = self.put_run(
            run,
            d,
            state="escalated" if escalated else "running",
            stage=stage.name,
            escalation_id=escalation,
            attempts={**run.attempts, key: 1},
        )
        live = self.tasks[record.task_id] = LiveTask(record)
        ids = self.run_tasks.get(run.run_id)  # not setdefault: a set built per task for nothing
        if ids is None:
            ids = self.run_tasks[run.run_id] = set()
        ids.add(record.task_id)
        d.effects.append(Start(live) if starting else Queue(live))
        return run

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
        ids = self.run_tasks.get(rec.run_id)
        if ids is not None:
            ids.discard(rec.task_id)
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
        item: int | None = None,
    ) -> Run:
        """Open an escalation for ``stage``; return the run (escalated) as stored."""
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
            item=item,
        )
        d.batch.put_escalation(escalation, was=None)
        self.escalations[escalation.id] = escalation
        self.run_escalations.setdefault(run.run_id, set()).add(escalation.id)
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
        return run

    def close_escalation(self, escalation: Escalation, d: Decision) -> None:
        """Store ``escalation`` (resolved); it is no longer open."""
        d.batch.put_escalation(escalation, was="open")
        self.escalations.pop(escalation.id, None)
        ids = self.run_escalations.get(escalation.run_id)
        if ids is not None:
            ids.discard(escalation.id)
        d.escalations -= 1

    def health(self, d: Decision, kind: str, **fields: str) -> None:
        d.effects.append(Health(HealthEvent(kind, **fields)))  # type: ignore[arg-type]


def lease(stage: Stage, start: float) -> float | None:
    timeout = stage.spec.timeout
    return None if timeout is None else start + timeout
