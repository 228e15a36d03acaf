"""What an agent's answer leads to: accepted, rejected by a review, sent back by a gate,
retried, or escalated. A mixin of the orchestrator (see ``state``); runs on its thread.
"""

from __future__ import annotations

import time

import msgspec
from handoffs.actors.checks import (
    ValidOutput,
    check_gates,
    check_tags,
    effective_quality,
)
from handoffs.actors.dispatch import Slot
from handoffs.actors.pipelines import Stage
from handoffs.actors.protocol import (
    LeaseExpired,
    QueueExpired,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.state import LiveTask
from handoffs.actors.transitions import Transitions, _bump, _lease
from handoffs.messages import (
    EscalationReason,
    Feedback,
    Handoff,
    QualityMarkers,
    Run,
    Verdict,
    new_id,
)
from handoffs.store import Batch

__all__ = ["Results"]


class _Answer:
    """A valid output and everything known about where it came from."""

    __slots__ = ("checked", "live", "msg", "quality", "stage")

    def __init__(
        self,
        live: LiveTask,
        stage: Stage,
        checked: ValidOutput,
        quality: QualityMarkers,
        msg: TaskDone,
    ) -> None:
        self.live = live
        self.stage = stage
        self.checked = checked
        self.quality = quality
        self.msg = msg


class Results(Transitions):
    """Decides agent results, timeouts and failures."""

    def _current(self, task_id: str, attempt: int, actor: str) -> LiveTask | None:
        """The live task a result belongs to, or ``None`` if it is stale (counted)."""
        slot = self._slots_by_name.get(actor)
        if slot is not None and (task_id, attempt) in slot.inflight:
            slot.stuck = False
            slot.inflight.discard((task_id, attempt))
            self._metrics.inflight(slot.role, -1)
            # Room for a task waiting for this role: what waits is committed already. (Drain
            # is checked after every group, so a late result that was the last awaited ends it.)
            self._pump(slot.role)
        live = self._live.get(task_id)
        if live is None or live.record.attempt != attempt or live.slot is None:
            self.stale += 1
            self._health("stale", run_id=live.record.run_id if live else "")
            return None
        live.slot = None
        live.queued_at = 0.0
        return live

    def _on_done(self, msg: TaskDone, batch: Batch) -> None:
        live = self._current(msg.task_id, msg.attempt, msg.actor)
        if live is None:
            return
        rec = live.record
        run = self._runs[rec.run_id]
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        checked = msg.checked
        if isinstance(checked, ValidOutput) and msg.tags:
            checked = check_tags(stage.spec.tags, msg.tags) or checked
        if isinstance(checked, Feedback):
            self._tally.handoff(rec.pipeline, rec.stage, "invalid", msg.seconds)
            self._failure(live, run, stage, batch, "invalid_output", checked.issue, [checked])
            return
        quality = effective_quality(checked.value, checked.quality)
        answer = _Answer(live, stage, checked, quality, msg)
        if stage.is_review:
            verdict: Verdict = checked.value
            if verdict.approved:
                self._accept(answer, run, batch)
            else:
                self._reject(answer, run, batch)
            return
        failures = check_gates(stage.spec.gates, checked.value, quality)
        if failures:
            self._gate_failed(answer, run, failures, batch)
        else:
            self._accept(answer, run, batch)

    def _record(
        self,
        answer: _Answer,
        run: Run,
        batch: Batch,
        *,
        outcome: str,
        next_action: str,
        feedback: list[Feedback] | None = None,
        latest: bool = False,
    ) -> tuple[Run, Handoff]:
        """Record the output as a handoff; return the run with it counted (and, if
        ``latest``, as its stage's latest output) and the handoff."""
        live, stage, msg = answer.live, answer.stage, answer.msg
        rec = live.record
        handoff = Handoff(
            id=new_id("art"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=rec.stage,
            kind=stage.spec.output,
            next_action=next_action[:20_000],
            produced_by=msg.actor,
            quality=answer.quality,
            revision=rec.revision,
            attempt=rec.attempt,
            created_at=time.time(),
            parents=list(run.latest.values())[-100:],
            tags=[*stage.spec.tags, *msg.tags],
            outcome=outcome,
            feedback=feedback or [],
            payload=msgspec.Raw(answer.checked.payload),
        )
        batch.put_artifact(handoff, new=True)
        batch.event(
            "handoff.recorded",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=rec.stage,
            task_id=rec.task_id,
            artifact_id=handoff.id,
            attempt=rec.attempt,
            detail=outcome,
        )
        run = _bump(
            run,
            outputs=rec.stage,
            handoffs=True,
            latest=(rec.stage, handoff.id) if latest else None,
        )
        self._tally.handoff(run.pipeline, rec.stage, outcome, msg.seconds)
        return run, handoff

    def _accept(self, answer: _Answer, run: Run, batch: Batch) -> None:
        live, stage, checked = answer.live, answer.stage, answer.checked
        nxt = stage.spec.next
        action = self._next_action(run, nxt)
        run, handoff = self._record(
            answer, run, batch, outcome="accepted", next_action=action, latest=True
        )
        self._payloads[handoff.id] = (checked.value, answer.quality)
        self._finish_task(live, batch)
        for pipeline, trigger in self._pipelines.triggers.get(stage.spec.output, ()):
            if getattr(checked.value, trigger.when, False) is True:
                self._start_run(
                    pipeline,
                    msgspec.to_builtins(checked.value),
                    batch,
                    trigger_artifact=handoff.id,
                )
        self._advance(run, nxt, batch)

    def _reject(self, answer: _Answer, run: Run, batch: Batch) -> None:
        stage = answer.stage
        verdict: Verdict = answer.checked.value
        target = stage.spec.on_reject
        assert target is not None  # checked by config_problems
        feedback = list(verdict.feedback) or [
            Feedback(source="reviewer", issue="rejected without specific feedback")
        ]
        self._send_back(
            answer,
            run,
            batch,
            outcome="rejected",
            target=target,
            feedback=feedback,
            limit=run.limits.get(target, stage.spec.max_revisions),
            what=f"{stage.name} rejected {{n}} outputs of {target}",
        )

    def _gate_failed(
        self, answer: _Answer, run: Run, failures: list[Feedback], batch: Batch
    ) -> None:
        stage = answer.stage
        self._send_back(
            answer,
            run,
            batch,
            outcome="gate_failed",
            target=stage.name,
            feedback=failures,
            limit=run.limits.get(stage.name, stage.spec.max_revisions),
            what=f"{stage.name} failed its quality gates {{n}} times",
        )

    def _send_back(
        self,
        answer: _Answer,
        run: Run,
        batch: Batch,
        *,
        outcome: str,
        target: str,
        feedback: list[Feedback],
        limit: int,
        what: str,
    ) -> None:
        """Record the output as ``outcome`` and send ``target`` back with ``feedback``; once
        ``target`` has been sent back ``limit`` times, escalate instead. ``what`` describes
        the loop, ``{n}`` standing for how many outputs it has turned down."""
        stage = answer.stage
        revisions = run.revisions.get(target, 0)
        exhausted = revisions >= limit
        issues = "; ".join(f.issue for f in feedback)
        said = what.format(n=revisions + 1)
        action = f"escalate: {said}" if exhausted else f"revise {target}: {issues}"
        run, handoff = self._record(
            answer,
            run,
            batch,
            outcome=outcome,
            next_action=action,
            feedback=feedback,
        )
        self._finish_task(answer.live, batch)
        if not exhausted:
            self._revise(run, target, feedback, batch)
            return
        # "approve" accepts the last output in question: a gate's is this one; a review's
        # is its target's latest.
        self._escalate(
            run,
            stage.name,
            "revisions_exhausted",
            f"{said} (max_revisions {limit}): {issues}",
            batch,
            retry_stage=target,
            approve_stage=stage.spec.next,
            artifact_id=handoff.id if target == stage.name else run.latest.get(target),
            feedback=feedback,
        )

    def _revise(self, run: Run, stage: str, feedback: list[Feedback], batch: Batch) -> None:
        run = _bump(run, revisions=stage)
        self._health("revision", pipeline=run.pipeline, stage=stage, run_id=run.run_id)
        self._new_task(run, stage, batch, feedback=feedback)

    def _on_queue_expired(self, msg: QueueExpired, batch: Batch) -> None:
        """A task still waiting for a free agent after its stage's ``queue_timeout``: its run
        escalates (``queue_timeout``) rather than wait on, unseen."""
        live = self._live.get(msg.task_id)
        if live is None or live.record.attempt != msg.attempt or live.slot is not None:
            return  # it moved on, or an agent has it (then its lease, if any, applies)
        rec = live.record
        run = self._runs.get(rec.run_id)
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        waited = f"{rec.stage} waited {stage.spec.queue_timeout:g}s for a free agent of role "
        error = f"{waited}{rec.role} (queue_timeout); it never started"
        self._finish_task(live, batch, error=error)
        if run is None:
            return
        self._escalate(
            run,
            rec.stage,
            "queue_timeout",
            error,
            batch,
            retry_stage=rec.stage,
            approve_stage=None,
            artifact_id=None,
            feedback=list(rec.feedback),
        )

    def _withdraw_from(self, slot: Slot, key: tuple[str, int]) -> None:
        """``key`` overran its lease on ``slot``. An event loop cancels it, and its room is
        free at once. A thread cannot be interrupted: it is stuck until it answers, and the
        tasks queued behind the hung one (none of them started) go to other actors."""
        handle = slot.handle
        if handle.cancels:
            handle.withdraw(key)
            if key in slot.inflight:
                slot.inflight.discard(key)
                self._metrics.inflight(slot.role, -1)
            self._pump(slot.role)
            return
        slot.stuck = True
        for other in sorted(slot.inflight - {key}):
            queued = self._live.get(other[0])
            if queued is None or queued.record.attempt != other[1] or queued.slot is not slot:
                continue
            handle.withdraw(other)
            slot.inflight.discard(other)
            self._metrics.inflight(slot.role, -1)
            queued.slot = None
            self._dispatcher.enqueue(slot.role, other[0], front=True)
        self._pump(slot.role)

    def _on_failed(self, msg: TaskFailed, batch: Batch) -> None:
        live = self._current(msg.task_id, msg.attempt, msg.actor)
        if live is None:
            return
        rec = live.record
        self._tally.handoff(rec.pipeline, rec.stage, "error", msg.seconds)
        run = self._runs[rec.run_id]
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        if msg.unrecoverable:
            self._failure(live, run, stage, batch, "unrecoverable", msg.error, [], final=True)
        else:
            self._failure(live, run, stage, batch, "retries_exhausted", msg.error, [])

    def _on_lease_expired(self, msg: LeaseExpired, batch: Batch) -> None:
        live = self._live.get(msg.task_id)
        if live is None or live.record.attempt != msg.attempt or live.slot is None:
            return
        slot = live.slot
        live.avoid, live.slot, live.queued_at = slot, None, 0.0  # its late result is stale
        self._withdraw_from(slot, (msg.task_id, msg.attempt))
        rec = live.record
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        error = f"timed out after {stage.spec.timeout:g}s on {live.avoid.name}"
        self._failure(live, self._runs[rec.run_id], stage, batch, "retries_exhausted", error, [])

    def _failure(
        self,
        live: LiveTask,
        run: Run,
        stage: Stage,
        batch: Batch,
        reason: EscalationReason,
        error: str,
        feedback: list[Feedback],
        *,
        final: bool = False,
    ) -> None:
        """An attempt failed (raised, timed out, invalid output): retry or escalate
        (at once when ``final``: the agent said retrying cannot help)."""
        rec = live.record
        self._health(
            "failure",
            pipeline=rec.pipeline,
            stage=rec.stage,
            role=rec.role,
            run_id=rec.run_id,
            reason=reason,
        )
        batch.event(
            "task.failed",
            run_id=rec.run_id,
            pipeline=rec.pipeline,
            stage=rec.stage,
            task_id=rec.task_id,
            attempt=rec.attempt,
            detail=error[:20_000],
        )
        if final or rec.attempt >= stage.spec.max_attempts:
            self._finish_task(live, batch, error=error)
            what = "returned invalid output" if reason == "invalid_output" else "failed"
            summary = f"{rec.stage} {what} on all {rec.attempt} attempts; last: {error}"
            if final:
                summary = f"{rec.stage} failed on attempt {rec.attempt}, not retried: {error}"
            self._escalate(
                run,
                rec.stage,
                reason,
                summary[:20_000],
                batch,
                retry_stage=rec.stage,
                approve_stage=None,
                artifact_id=None,
                feedback=feedback,
            )
            return
        # Invalid output and timeouts retry at once (another agent, or the same with
        # feedback); exceptions back off exponentially.
        delay = 0.0
        if reason == "retries_exhausted" and live.avoid is None:
            delay = min(stage.spec.retry_backoff * 2 ** (rec.attempt - 1), 30.0)
        now = time.time()
        dispatching = not delay and self._can_mark(rec.role)
        record = msgspec.structs.replace(
            rec,
            state="running" if dispatching else "ready",
            attempt=rec.attempt + 1,
            feedback=feedback or rec.feedback,
            not_before=now + delay if delay else None,
            lease_deadline=_lease(stage, now + delay),
            updated_at=now,
            last_error=error[:20_000],
        )
        live.record = record
        batch.put_task(record, was=rec.state)
        self._put_run(run, batch, attempts={**run.attempts, rec.stage: record.attempt})
        if dispatching:
            self._reserve(live)
        else:
            self._after.append(lambda: self._dispatch_later(live, delay))
