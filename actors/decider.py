"""The decider: every rule of a handoff, as a pure function of memory and one event.

``decide(event, now)`` returns a :class:`~handoffs.actors.decision.Decision`: the records to
write, the effects to perform once they are durable, the reply and the metric tallies. An
agent's answer is checked here: a stale one (its task moved on) is dropped and counted; an
invalid output goes back to its producer with the validator's feedback; a review's verdict
or a failed quality gate sends its target back with feedback, until ``max_revisions``, then
escalates; an accepted output is recorded as a handoff and the next stage starts (or the run
completes), and may trigger other pipelines.

Pure, in the sans-I/O sense (h11; OTP's ``gen_statem``): no pykka, no lmdb, no clock, no
threads. The orchestrator (the shell) and ``handoffs simulate`` drive the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from handoffs.actors.branches import Branches
from handoffs.actors.checks import ValidOutput, check_gates, check_tags, effective_quality
from handoffs.actors.decision import Capacity, Decision, Later, LiveTask, Start, StoreReader
from handoffs.actors.events import (
    ApprovalExpired,
    Cancel,
    DeciderEvent,
    LeaseExpired,
    QueueExpired,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.failures import Failures
from handoffs.actors.ledger import Ledger
from handoffs.actors.pipelines import Pipelines, Stage
from handoffs.actors.recording import accepted, bump, next_action, record
from handoffs.actors.requests import Requests
from handoffs.actors.topology import item_key
from handoffs.messages import (
    Escalation,
    Feedback,
    Handoff,
    QualityMarkers,
    Run,
    TaskRecord,
    Verdict,
    new_id,
)

__all__ = ["Decider"]


class Decider:
    """The single writer's rules. Memory is in ``ledger``; call everything from one thread."""

    def __init__(
        self,
        pipelines: Pipelines,
        reader: StoreReader,
        capacity: Capacity,
        *,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self.ledger = Ledger(pipelines, reader, capacity, ids)
        self._branches = Branches(self.ledger)
        self._failures = Failures(self.ledger)
        self._requests = Requests(self.ledger, self._branches)
        self.pipelines = pipelines
        #: Answers that came for a task that had moved on (dropped).
        self.stale = 0

    # ----------------------------------------------------------------- events

    def decide(self, event: DeciderEvent, now: float) -> Decision:
        """Decide ``event`` at wall-clock time ``now``.

        Raises:
            HandoffsError: a caller's request cannot be done (unknown pipeline, run or
                escalation, a second resolution, an idempotency conflict): nothing of it
                was decided. Anything else raised is a bug or corrupt stored data (see
                :meth:`fail`).
        """
        d = Decision(now)
        try:
            match event:
                case TaskDone():
                    live = self._current(event.task_id, event.attempt, d)
                    if live is not None:
                        self._done(live, event, d)
                case TaskFailed():
                    live = self._current(event.task_id, event.attempt, d)
                    if live is not None:
                        self._failures.agent_failed(
                            live, event.error, event.unrecoverable, event.seconds, d
                        )
                case Submit():
                    self._requests.submit(event, d)
                case Resolve():
                    self._requests.resolve(event, d)
                case Cancel():
                    self._requests.cancel(event, d)
                case LeaseExpired():
                    live = self._current(event.task_id, event.attempt, None)
                    if live is not None:
                        self._failures.lease_expired(live, event.actor or "an agent", d)
                case QueueExpired():
                    live = self._current(event.task_id, event.attempt, None)
                    if live is not None:
                        self._failures.queue_expired(live, d)
                case RoleDown(role, reason):
                    self._requests.role_down(role, reason, d)
                case RoleUp(role):
                    self._requests.role_up(role, d)
                case ApprovalExpired(escalation_id):
                    self._requests.approval_expired(escalation_id, d)
                case _:
                    raise TypeError(f"not an event the decider decides: {event!r}")
        except BaseException:
            self.void(d)
            raise
        return d

    def start(self, live: LiveTask, now: float) -> Decision:
        """``live`` waited (``ready``) and an agent has room for it now (reserved): write it
        running; ``Start`` follows the commit."""
        d = Decision(now)
        self.ledger.mark_running(live, d)
        return d

    def void(self, d: Decision) -> None:
        """``d`` will not be committed: give back the room its ``Start`` effects held."""
        for effect in d.effects:
            if isinstance(effect, Start):
                self.ledger.capacity.release(effect.live.record.role)

    def fail(self, event: Any, exc: BaseException, now: float) -> Decision | None:
        """Deciding ``event`` raised ``exc`` (a bug, corrupt stored data): its task's run
        fails with the reason, so it does not wait forever. ``None`` if no run is at stake."""
        task_id = getattr(event, "task_id", None)
        live = self.ledger.tasks.get(task_id) if isinstance(task_id, str) else None
        if live is None:
            return None
        d = Decision(now)
        run = self.ledger.runs.get(live.record.run_id)
        self.ledger.finish_task(live, d, withdraw=True)
        if run is not None:
            reason = f"internal error deciding {live.record.stage}: {type(exc).__name__}: {exc}"
            self.ledger.end_run(run, "failed", d, reason=reason[:2000])
        return d

    # ----------------------------------------------------------------- memory

    def load(self, runs: list[Run], escalations: list[Escalation], tasks: list[TaskRecord]) -> None:
        """Memory from the store: active runs, open escalations, pending tasks."""
        self.ledger.load(runs, escalations, tasks)

    def timers(self, now: float) -> list[Later]:
        """After a (re)load: the timers of open approvals (stages people review with a
        ``timeout``), for the time each has left."""
        ledger = self.ledger
        later: list[Later] = []
        for escalation in ledger.escalations.values():
            stage = ledger.pipelines.stages.get((escalation.pipeline, escalation.stage))
            if escalation.reason != "approval" or stage is None or stage.spec.timeout is None:
                continue
            left = escalation.created_at + stage.spec.timeout - now
            later.append(Later(ApprovalExpired(escalation.id), max(0.0, left)))
        return later

    def cut_short(self, now: float) -> Decision | None:
        """After a restart: every task written running may have been on an agent when the
        process stopped; each fails that attempt (see ``Failures.cut_short``). ``None`` when
        there is none; the other tasks' ``Queue`` effects are for the caller to add."""
        d = Decision(now)
        for live in list(self.ledger.tasks.values()):
            self._failures.cut_short(live, d)
        return d if len(d.batch) else None

    def release_idle(self, now: float) -> Decision | None:
        """Closing with no task on an agent: tasks written running are ready again, so the
        next open does not count an attempt for them. ``None`` when there is none."""
        d = Decision(now)
        for live in self.ledger.tasks.values():
            rec = live.record
            if rec.state == "running":
                ready = msgspec.structs.replace(rec, state="ready", updated_at=now)
                d.batch.put_task(ready, was="running")
        return d if len(d.batch) else None

    # ----------------------------------------------------------------- answers

    def _current(self, task_id: str, attempt: int, d: Decision | None) -> LiveTask | None:
        """The live task an answer belongs to, or ``None`` if it moved on (an answer is
        counted stale; a timer firing late is not)."""
        live = self.ledger.tasks.get(task_id)
        if live is not None and live.record.attempt == attempt:
            return live
        if d is not None:
            self.stale += 1
            run_id = live.record.run_id if live else ""
            self.ledger.health(d, "stale", run_id=run_id)
        return None

    def _done(self, live: LiveTask, msg: TaskDone, d: Decision) -> None:
        ledger = self.ledger
        rec = live.record
        d.durations.append((rec.pipeline, rec.stage, msg.seconds))
        run = ledger.runs[rec.run_id]
        stage = ledger.pipelines.stage(rec.pipeline, rec.stage)
        checked = msg.checked
        if isinstance(checked, ValidOutput) and msg.tags:
            checked = check_tags(stage.spec.tags, msg.tags) or checked
        if isinstance(checked, Feedback):
            self._failures.failure(live, run, stage, d, "invalid_output", checked.issue, [checked])
            return
        answer = _Answer(live, stage, checked, effective_quality(checked.value, checked.quality))
        if stage.is_review:
            verdict: Verdict = checked.value
            if verdict.approved:
                self._accept(answer, run, msg, d)
            else:
                self._reject(answer, run, msg, d)
            return
        failures = check_gates(stage.spec.gates, checked.value, answer.quality)
        if failures:
            self._gate_failed(answer, run, failures, msg, d)
        else:
            self._accept(answer, run, msg, d)

    def _record(
        self,
        answer: _Answer,
        run: Run,
        msg: TaskDone,
        d: Decision,
        *,
        outcome: str,
        next_action: str,
        feedback: list[Feedback] | None = None,
        latest: bool = False,
    ) -> tuple[Run, Handoff]:
        """Record the agent's output as a handoff (see ``recording.record``)."""
        rec = answer.live.record
        return record(
            self.ledger,
            run,
            rec.stage,
            answer.checked,
            answer.quality,
            d,
            produced_by=msg.actor,
            outcome=outcome,
            next_action=next_action,
            revision=rec.revision,
            attempt=rec.attempt,
            task_id=rec.task_id,
            tags=msg.tags,
            feedback=feedback,
            latest=latest,
            item=rec.item,
        )

    def _accept(self, answer: _Answer, run: Run, msg: TaskDone, d: Decision) -> None:
        ledger = self.ledger
        stage = answer.stage.name
        action = next_action(ledger, run, stage)
        run, handoff = self._record(
            answer, run, msg, d, outcome="accepted", next_action=action, latest=True
        )
        ledger.finish_task(answer.live, d)
        accepted(ledger, run, handoff, answer.checked.value, answer.quality, d)
        self._branches.advance(run, stage, d, item=answer.live.record.item)

    def _reject(self, answer: _Answer, run: Run, msg: TaskDone, d: Decision) -> None:
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
            msg,
            d,
            outcome="rejected",
            target=target,
            feedback=feedback,
            limit=stage.spec.max_revisions,
            what=f"{stage.name} rejected {{n}} outputs of {target}",
        )

    def _gate_failed(
        self, answer: _Answer, run: Run, failures: list[Feedback], msg: TaskDone, d: Decision
    ) -> None:
        stage = answer.stage
        self._send_back(
            answer,
            run,
            msg,
            d,
            outcome="gate_failed",
            target=stage.name,
            feedback=failures,
            limit=stage.spec.max_revisions,
            what=f"{stage.name} failed its quality gates {{n}} times",
        )

    def _send_back(
        self,
        answer: _Answer,
        run: Run,
        msg: TaskDone,
        d: Decision,
        *,
        outcome: str,
        target: str,
        feedback: list[Feedback],
        limit: int,
        what: str,
    ) -> None:
        """Record the output as ``outcome`` and send ``target`` back with ``feedback``; once
        ``target`` has been sent back ``limit`` times, escalate instead. ``what`` describes
        the loop, ``{n}`` standing for how many outputs it has turned down. Counts are per
        item in a map branch (the target is in the same branch)."""
        ledger = self.ledger
        stage = answer.stage
        rec = answer.live.record
        key = item_key(target, rec.item)
        limit = run.limits.get(key, limit)  # a person's "revise" raised it
        revisions = run.revisions.get(key, 0)
        exhausted = revisions >= limit
        issues = "; ".join(f.issue for f in feedback)
        said = what.format(n=revisions + 1)
        action = f"escalate: {said}" if exhausted else f"revise {target}: {issues}"
        run, handoff = self._record(
            answer, run, msg, d, outcome=outcome, next_action=action, feedback=feedback
        )
        ledger.finish_task(answer.live, d)
        if not exhausted:
            run = bump(run, revisions=key)
            ledger.health(d, "revision", pipeline=run.pipeline, stage=target, run_id=run.run_id)
            ledger.new_task(
                run, target, d, feedback=feedback, item=rec.item, item_value=rec.item_value
            )
            return
        # "approve" accepts the last output in question: a gate's is this one; a review's
        # is its target's latest.
        ledger.escalate(
            run,
            stage.name,
            "revisions_exhausted",
            f"{said} (max_revisions {limit}): {issues}",
            d,
            retry_stage=target,
            approve_stage=stage.targets[0] if len(stage.targets) == 1 else None,
            artifact_id=handoff.id if target == stage.name else run.latest.get(key),
            feedback=feedback,
            item=rec.item,
        )


class _Answer:
    """A valid output and everything known about where it came from."""

    __slots__ = ("checked", "live", "quality", "stage")

    def __init__(
        self, live: LiveTask, stage: Stage, checked: ValidOutput, quality: QualityMarkers
    ) -> None:
        self.live = live
        self.stage = stage
        self.checked = checked
        self.quality = quality
