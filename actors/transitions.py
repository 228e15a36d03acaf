"""How runs and tasks change state: each change is staged in memory and in a store batch.

A mixin of the orchestrator (see ``state``); runs on the orchestrator's thread.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from handoffs.actors.pipelines import Stage
from handoffs.actors.state import LiveTask, OrchestratorState, render_instruction
from handoffs.messages import (
    Escalation,
    EscalationReason,
    Feedback,
    Run,
    TaskRecord,
    new_id,
)
from handoffs.store import Batch

__all__ = ["Transitions"]


class Transitions(OrchestratorState):
    """Runs start, advance, escalate and end; tasks are created and finished."""

    def _put_run(self, run: Run, batch: Batch, **changes: Any) -> Run:
        """Stage ``run`` with ``changes`` (one copy of the struct) in memory and in ``batch``."""
        old = self._runs.get(run.run_id)
        run = msgspec.structs.replace(run, updated_at=time.time(), **changes)
        # Memory holds every active run, so a run not there is new.
        batch.put_run(run, was=None if old is None else old.state)
        if run.state in ("running", "escalated"):
            self._runs[run.run_id] = run
        else:
            self._runs.pop(run.run_id, None)
        if old is None or old.state != run.state:
            self._tally.run_state(None if old is None else old.state, run.state)
        return run

    def _new_task(
        self, run: Run, stage_name: str, batch: Batch, *, feedback: list[Feedback] | None = None
    ) -> None:
        stage = self._pipelines.stage(run.pipeline, stage_name)
        if stage.spec.role in self._dispatcher.down:
            self._escalate(
                run,
                stage_name,
                "role_down",
                f"role {stage.spec.role} is down; {stage_name} cannot run",
                batch,
                retry_stage=stage_name,
                approve_stage=None,
                artifact_id=None,
                feedback=feedback or [],
            )
            return
        now = time.time()
        # Written running only when an agent can take it right after this commit: a task
        # that waits for room is written running when it is dispatched (attempts durable).
        dispatching = self._can_mark(stage.spec.role)
        record = TaskRecord(
            task_id=new_id("task"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage_name,
            role=stage.spec.role,
            state="running" if dispatching else "ready",
            revision=run.outputs.get(stage_name, 0),
            attempt=1,
            feedback=feedback or [],
            lease_deadline=_lease(stage, now),
            created_at=now,
            updated_at=now,
        )
        batch.put_task(record, was=None)
        live = self._live[record.task_id] = LiveTask(record)
        self._put_run(
            run,
            batch,
            state="running",
            stage=stage_name,
            escalation_id=None,
            attempts={**run.attempts, stage_name: 1},
        )
        if dispatching:
            self._reserve(live)
        else:
            self._after.append(lambda: self._dispatch(live))

    def _withdraw(self, live: LiveTask) -> None:
        """The task's current attempt is no longer wanted: once the decision is committed,
        its agent skips it if not started, or has it cancelled (an event loop); its room is
        free at once. A late result is stale (dropped and counted)."""
        slot = live.slot
        if slot is None:
            return
        live.slot = None
        key = (live.record.task_id, live.record.attempt)
        metrics = self._metrics

        def withdraw() -> None:
            slot.handle.withdraw(key)
            if key in slot.inflight:
                slot.inflight.discard(key)
                metrics.inflight(slot.role, -1)
                self._pump(slot.role)

        self._after.append(withdraw)

    def _finish_task(self, live: LiveTask, batch: Batch, *, error: str | None = None) -> None:
        rec = live.record
        now = time.time()
        batch.put_task(
            was=rec.state,
            task=msgspec.structs.replace(
                rec,
                state="done",
                updated_at=now,
                lease_deadline=None,
                last_error=error[:20_000] if error else rec.last_error,
            ),
        )
        self._live.pop(rec.task_id, None)

    def _start_run(
        self,
        pipeline: str,
        input: dict[str, Any],
        batch: Batch,
        *,
        key: str | None = None,
        trigger_artifact: str | None = None,
    ) -> Run:
        spec = self._pipelines.pipelines[pipeline]
        now = time.time()
        run = Run(
            run_id=new_id("run"),
            pipeline=pipeline,
            state="running",
            stage=spec.start,
            input=input,
            created_at=now,
            updated_at=now,
            idempotency_key=key,
            trigger_artifact=trigger_artifact,
        )
        batch.event(
            "run.submitted",
            run_id=run.run_id,
            pipeline=pipeline,
            artifact_id=trigger_artifact,
            detail="triggered" if trigger_artifact else "",
        )
        self._new_task(run, spec.start, batch)
        return run

    def _end_run(self, run: Run, state: str, batch: Batch, *, reason: str | None = None) -> None:
        run = self._put_run(run, batch, state=state, stage=None, reason=reason)
        batch.event(f"run.{state}", run_id=run.run_id, pipeline=run.pipeline, detail=reason or "")
        self._tally.run_revisions.append(sum(run.revisions.values()))
        for artifact_id in run.latest.values():
            self._payloads.pop(artifact_id, None)  # no task of this run will need them
        self._settles = True

    def _escalate(
        self,
        run: Run,
        stage: str,
        reason: EscalationReason,
        summary: str,
        batch: Batch,
        *,
        retry_stage: str | None,
        approve_stage: str | None,
        artifact_id: str | None,
        feedback: list[Feedback],
    ) -> None:
        history = [h.id for h in self._store.run_handoffs(run.run_id)]
        history += [h.id for h, _, _ in batch.artifacts if h.run_id == run.run_id]
        escalation = Escalation(
            id=new_id("esc"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage,
            reason=reason,
            summary=summary[:20_000],
            created_at=time.time(),
            retry_stage=retry_stage,
            approve_stage=approve_stage,
            artifact_id=artifact_id,
            feedback=feedback[:100],
            history=history[-10_000:],
        )
        batch.put_escalation(escalation, was=None)
        run = self._put_run(run, batch, state="escalated", stage=stage, escalation_id=escalation.id)
        batch.event(
            "run.escalated",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage,
            detail=f"{reason}: {summary}"[:20_000],
        )
        self._health(
            "escalation", pipeline=run.pipeline, stage=stage, run_id=run.run_id, reason=reason
        )

        def opened() -> None:
            self._metrics.escalations_open.inc()
            self._waiters.notify()

        self._after.append(opened)

    def _next_action(self, run: Run, nxt: str | None) -> str:
        if nxt is None:
            return "complete the run"
        spec = self._pipelines.stage(run.pipeline, nxt).spec
        return f"{nxt}: {render_instruction(spec.instruction, run.input)}"

    def _advance(self, run: Run, nxt: str | None, batch: Batch) -> None:
        if nxt is None:
            self._end_run(run, "completed", batch)
        else:
            self._new_task(run, nxt, batch)


def _lease(stage: Stage, start: float) -> float | None:
    timeout = stage.spec.timeout
    return None if timeout is None else start + timeout


def _bump(
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
