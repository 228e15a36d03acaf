"""What a failed attempt leads to: a retry (with backoff after an exception), or an
escalation once the stage's attempts are spent. Agent exceptions, invalid outputs, overrun
leases, tasks that waited past their ``queue_timeout`` and attempts cut short by the process
stopping all end here.

Pure: no pykka, no lmdb, no clock, no threads.
"""

from __future__ import annotations

import msgspec
from handoffs.actors.decision import Decision, LiveTask, Queue, Start
from handoffs.actors.ledger import Ledger, lease
from handoffs.actors.pipelines import Stage
from handoffs.actors.topology import item_key
from handoffs.messages import EscalationReason, Feedback, Run

__all__ = ["MAX_BACKOFF", "Failures"]

#: The longest a retry waits after an exception (the backoff doubles per attempt).
MAX_BACKOFF = 30.0


class Failures:
    """Decides failed attempts over the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def failure(
        self,
        live: LiveTask,
        run: Run,
        stage: Stage,
        d: Decision,
        reason: EscalationReason,
        error: str,
        feedback: list[Feedback],
        *,
        backoff: bool = False,
        final: bool = False,
    ) -> None:
        """An attempt failed: retry it (at once, or after an exponential ``backoff``), or
        escalate once ``max_attempts`` are spent (at once when ``final``: the agent said
        retrying cannot help)."""
        ledger = self._ledger
        rec = live.record
        ledger.health(
            d,
            "failure",
            pipeline=rec.pipeline,
            stage=rec.stage,
            role=rec.role,
            run_id=rec.run_id,
            reason=reason,
        )
        d.batch.event(
            "task.failed",
            run_id=rec.run_id,
            pipeline=rec.pipeline,
            stage=rec.stage,
            task_id=rec.task_id,
            attempt=rec.attempt,
            detail=error[:20_000],
        )
        if final or rec.attempt >= stage.spec.max_attempts:
            ledger.finish_task(live, d, error=error)
            what = "returned invalid output" if reason == "invalid_output" else "failed"
            summary = f"{rec.stage} {what} on all {rec.attempt} attempts; last: {error}"
            if final:
                summary = f"{rec.stage} failed on attempt {rec.attempt}, not retried: {error}"
            ledger.escalate(
                run,
                rec.stage,
                reason,
                summary[:20_000],
                d,
                retry_stage=rec.stage,
                approve_stage=None,
                artifact_id=None,
                feedback=feedback,
                item=rec.item,
            )
            return
        delay = 0.0
        if backoff:
            delay = min(stage.spec.retry_backoff * 2 ** (rec.attempt - 1), MAX_BACKOFF)
        starting = not delay and ledger.capacity.reserve(rec.role)
        record = msgspec.structs.replace(
            rec,
            state="running" if starting else "ready",
            attempt=rec.attempt + 1,
            feedback=feedback or rec.feedback,
            not_before=d.now + delay if delay else None,
            lease_deadline=lease(stage, d.now + delay),
            updated_at=d.now,
            last_error=error[:20_000],
        )
        live.record = record
        d.batch.put_task(record, was=rec.state)
        key = item_key(rec.stage, rec.item)
        ledger.put_run(run, d, attempts={**run.attempts, key: record.attempt})
        d.effects.append(Start(live) if starting else Queue(live, delay))

    def agent_failed(
        self, live: LiveTask, error: str, unrecoverable: bool, seconds: float, d: Decision
    ) -> None:
        """The agent raised (``unrecoverable``: it said a retry cannot help)."""
        rec = live.record
        d.durations.append((rec.pipeline, rec.stage, seconds))
        run = self._ledger.runs[rec.run_id]
        stage = self._ledger.pipelines.stage(rec.pipeline, rec.stage)
        if unrecoverable:
            self.failure(live, run, stage, d, "unrecoverable", error, [], final=True)
        else:
            self.failure(live, run, stage, d, "retries_exhausted", error, [], backoff=True)

    def lease_expired(self, live: LiveTask, holder: str, d: Decision) -> None:
        """The attempt overran its stage's lease on the agent ``holder`` (which has been
        told to drop it): retried at once, elsewhere when possible."""
        rec = live.record
        stage = self._ledger.pipelines.stage(rec.pipeline, rec.stage)
        error = f"timed out after {stage.spec.timeout:g}s on {holder}"
        run = self._ledger.runs[rec.run_id]
        self.failure(live, run, stage, d, "retries_exhausted", error, [])

    def queue_expired(self, live: LiveTask, d: Decision) -> None:
        """A task still waiting for a free agent after its stage's ``queue_timeout``: its run
        escalates (``queue_timeout``) rather than wait on, unseen."""
        ledger = self._ledger
        rec = live.record
        run = ledger.runs.get(rec.run_id)
        stage = ledger.pipelines.stage(rec.pipeline, rec.stage)
        waited = f"{rec.stage} waited {stage.spec.queue_timeout:g}s for a free agent of role "
        error = f"{waited}{rec.role} (queue_timeout); it never started"
        ledger.finish_task(live, d, error=error)
        if run is None:
            return
        ledger.escalate(
            run,
            rec.stage,
            "queue_timeout",
            error,
            d,
            retry_stage=rec.stage,
            approve_stage=None,
            artifact_id=None,
            feedback=list(rec.feedback),
            item=rec.item,
        )

    def cut_short(self, live: LiveTask, d: Decision) -> bool:
        """``live`` was written running when the process stopped: an agent may have had it,
        maybe the one that stopped the process. That attempt counts (retried with backoff,
        or escalated after ``max_attempts``). ``False`` if it is not such a task."""
        ledger = self._ledger
        rec = live.record
        stage = ledger.pipelines.stages.get((rec.pipeline, rec.stage))
        run = ledger.runs.get(rec.run_id)
        if rec.state != "running" or stage is None or run is None:
            return False
        error = f"the process stopped while attempt {rec.attempt} ran"
        self.failure(live, run, stage, d, "retries_exhausted", error, [], backoff=True)
        return True
