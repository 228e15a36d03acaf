"""The orchestrator: the single writer of pipeline state.

For each agent result it drops what is no longer current (keyed by task id and attempt),
validates the output against the stage's contract, applies the quality gates, and decides:
next stage, back to a producer with feedback, escalate, or done. Every decision becomes a
store batch; the batches of all results waiting in the mailbox are committed in ONE write
transaction (group commit), and only then are the next tasks dispatched.

Everything here runs on the orchestrator's own thread.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
from handoffs.actors.checks import ValidOutput, check_gates, effective_quality, validate_output
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.errors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    UnknownPipeline,
)
from handoffs.actors.metrics import RuntimeMetrics
from handoffs.actors.pipelines import Pipelines, Stage
from handoffs.actors.protocol import (
    ActorExited,
    ActorStarted,
    Drain,
    HealthEvent,
    LeaseExpired,
    OrchestratorMessage,
    Perform,
    Redispatch,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.messages import (
    NAME_PATTERN,
    Escalation,
    EscalationReason,
    Feedback,
    Handoff,
    QualityMarkers,
    Resolution,
    Run,
    Task,
    TaskRecord,
    Verdict,
    decode_msgpack,
    new_id,
)
from handoffs.store import Batch, Store, StoreError

__all__ = ["Orchestrator", "OrchestratorStatistics", "render_instruction"]

log = logging.getLogger("handoffs.orchestrator")

#: Results waiting beyond this many are committed without waiting for the mailbox to empty.
MAX_GROUP = 512
_ALL = 1 << 62
_NAME_RE = re.compile(NAME_PATTERN)


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_instruction(template: str, values: dict[str, Any]) -> str:
    """The stage's instruction with the run input filled in; unknown fields stay ``{field}``."""
    try:
        return template.format_map(_Missing(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


class OrchestratorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The orchestrator's live state: active runs, live tasks, tasks in flight and waiting."""

    active_runs: int
    live_tasks: int
    inflight: int
    waiting: dict[str, int]
    roles_down: list[str]
    processed: int
    stale: int


class _Live:
    """A task the orchestrator is responsible for (running or ready in the store)."""

    __slots__ = ("avoid", "record", "slot")

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        self.slot: Slot | None = None
        self.avoid: Slot | None = None


class Orchestrator(pykka.ThreadingActor):
    """Decides every handoff and commits it. See the module docstring."""

    def __init__(
        self,
        store: Store,
        pipelines: Pipelines,
        metrics: RuntimeMetrics,
        timers: Timers,
        waiters: RunWaiters,
        *,
        supervisor: pykka.ActorRef[Any] | None = None,
        prefetch: int = 4,
    ) -> None:
        super().__init__()
        self._store = store
        self._pipelines = pipelines
        self._metrics = metrics
        self._timers = timers
        self._waiters = waiters
        self.supervisor = supervisor
        self._dispatcher = Dispatcher(prefetch)
        self._slots_by_name: dict[str, Slot] = {}
        self._runs: dict[str, Run] = {}
        self._live: dict[str, _Live] = {}
        self._payloads: dict[str, Any] = {}
        self._pending: list[OrchestratorMessage] = []
        self._after: list[Callable[[], None]] = []
        self._staged_keys: dict[str, tuple[str, str]] = {}
        self._drain: pykka.Future[Any] | None = None
        self.processed = 0
        self.stale = 0

    # ----------------------------------------------------------------- lifecycle

    def on_start(self) -> None:
        """Load live state from the store (the truth). Runs in the orchestrator's thread."""
        self._recover()

    def _recover(self) -> None:
        """Rebuild memory from the store: active runs, and every ready or running task, which
        is dispatched again (at the same attempt: the process that held it is gone)."""
        self._runs = {}
        for state in ("running", "escalated"):
            for run in self._store.runs(state=state, limit=_ALL).items:
                self._runs[run.run_id] = run
        self._live = {}
        self._payloads = {}
        for slot in self._slots_by_name.values():
            self._metrics.inflight(slot.role).dec(len(slot.inflight))
            slot.inflight.clear()
        for role in list(self._dispatcher.roles()):
            self._dispatcher.waiting(role).clear()
        counts = self._store.count_runs()
        for state in ("running", "completed", "escalated", "failed", "cancelled"):
            self._metrics.runs.labels(state).set(counts.get(state, 0))
        self._metrics.escalations_open.set(self._store.count_escalations().get("open", 0))
        now = time.time()
        for record in self._store.pending_tasks():
            if record.run_id not in self._runs:
                continue
            live = self._live[record.task_id] = _Live(record)
            delay = 0.0 if record.not_before is None else record.not_before - now
            self._dispatch_later(live, delay)

    # ----------------------------------------------------------------- mailbox

    def on_receive(self, message: OrchestratorMessage) -> Any:
        """Handle one message. Results wait until the mailbox is empty, then commit together.

        Nothing may stop this actor: an unexpected error is logged and memory is rebuilt from
        the store, which is the truth.
        """
        try:
            self._receive(message)
            # Whatever the last message was, results must not wait once the mailbox is empty.
            if self._pending and self.actor_inbox.empty():
                self._flush()
        except Exception:
            log.exception(
                "orchestrator: %s failed; reloading from the store", type(message).__name__
            )
            self._pending = []
            self._after = []
            self._recover()
        return None

    def _receive(self, message: OrchestratorMessage) -> None:
        match message:
            case TaskDone() | TaskFailed() | Submit() | Resolve() | LeaseExpired() | RoleDown():
                self._pending.append(message)
                if len(self._pending) >= MAX_GROUP:
                    self._flush()
            case Redispatch(task_id, attempt):
                live = self._live.get(task_id)
                if live is not None and live.record.attempt == attempt and live.slot is None:
                    self._dispatch(live)
            case ActorStarted(role, index, ref, name):
                self._slots_by_name[name] = self._dispatcher.add(role, index, ref, name)
                self._pump(role)
            case ActorExited():
                self._flush()  # a fatal TaskFailed told before the exit must be decided first
                self._on_exit(message)
            case RoleUp(role, reply):
                self._dispatcher.down.discard(role)
                self._resume_role(role)
                if reply is not None:
                    reply.set(None)
            case Drain(reply):
                self._flush()
                self._drain = reply
                self._check_drained()
            case _:
                log.warning("orchestrator: unexpected message %r", message)  # type: ignore[unreachable]

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._staged_keys = {}
        batches: list[Batch] = []
        for message in pending:
            batch = Batch()
            mark = len(self._after)
            try:
                self._decide(message, batch)
            except Exception as exc:
                del self._after[mark:]  # the failed decision's effects are void
                self._fail_decision(message, exc, batches)
                continue
            batches.append(batch)
        after, self._after = self._after, []
        try:
            if any(len(batch) for batch in batches):
                self._store.commit(batches)
        except StoreError as exc:
            log.critical("orchestrator: commit failed, reloading from the store: %s", exc)
            for message in pending:
                reply = getattr(message, "reply", None)
                if reply is not None:
                    reply.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
            self._recover()
            return
        self.processed += len(pending)
        for action in after:
            try:
                action()
            except Exception:  # one failed effect must not cost the others
                log.exception("orchestrator: post-commit action failed")

    def _fail_decision(
        self, message: OrchestratorMessage, exc: Exception, out: list[Batch]
    ) -> None:
        """A decision raised: a caller's error goes back to the caller; anything else (a bug,
        corrupt stored data) fails the task's run with the reason."""
        reply = getattr(message, "reply", None)
        if reply is not None:
            reply.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
            return
        log.error("orchestrator: deciding %s failed", type(message).__name__, exc_info=exc)
        task_id = getattr(message, "task_id", None)
        live = self._live.pop(task_id, None) if task_id else None
        if live is None:
            return
        run = self._runs.get(live.record.run_id)
        batch = Batch()
        self._finish_task(live, batch)
        if run is not None:
            reason = f"internal error deciding {live.record.stage}: {type(exc).__name__}: {exc}"
            self._end_run(run, "failed", batch, reason=reason[:2000])
        out.append(batch)

    def _decide(self, message: OrchestratorMessage, batch: Batch) -> None:
        match message:
            case TaskDone():
                self._on_done(message, batch)
            case TaskFailed():
                self._on_failed(message, batch)
            case Submit():
                self._on_submit(message, batch)
            case Resolve():
                self._on_resolve(message, batch)
            case LeaseExpired():
                self._on_lease_expired(message, batch)
            case RoleDown(role, reason):
                self._on_role_down(role, reason, batch)
            case _:
                raise TypeError(f"not a decision message: {message!r}")

    # ----------------------------------------------------------------- results

    def _current(self, task_id: str, attempt: int, actor: str) -> _Live | None:
        """The live task a result belongs to, or ``None`` if it is stale (counted)."""
        slot = self._slots_by_name.get(actor)
        if slot is not None and (task_id, attempt) in slot.inflight:
            slot.inflight.discard((task_id, attempt))
            self._metrics.inflight(slot.role).dec()
            role = slot.role
            self._after.append(lambda: self._pump(role))
            self._after.append(self._check_drained)  # a late result may be the last awaited
        live = self._live.get(task_id)
        if live is None or live.record.attempt != attempt or live.slot is None:
            self.stale += 1
            self._health("stale", run_id=live.record.run_id if live else "")
            return None
        live.slot = None
        return live

    def _on_done(self, msg: TaskDone, batch: Batch) -> None:
        live = self._current(msg.task_id, msg.attempt, msg.actor)
        if live is None:
            return
        rec = live.record
        run = self._runs[rec.run_id]
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        checked = validate_output(msg.output, stage.contract, stage.spec.output, msg.quality)
        if isinstance(checked, ValidOutput):
            bad_tags = [t for t in msg.tags if not isinstance(t, str) or not _NAME_RE.match(t)]
            if bad_tags:
                checked = Feedback(
                    source="validator",
                    aspect="tags",
                    issue=f"invalid tags {bad_tags!r}: tags must match {NAME_PATTERN}",
                    severity="blocker",
                )
        if isinstance(checked, Feedback):
            self._metrics.handoff(rec.pipeline, rec.stage, "invalid", msg.seconds)
            self._failure(live, run, stage, batch, "invalid_output", checked.issue, [checked])
            return
        quality = effective_quality(checked.value, checked.quality)
        if stage.is_review:
            verdict: Verdict = checked.value
            if verdict.approved:
                self._accept(live, run, stage, checked, quality, msg, batch)
            else:
                self._reject(live, run, stage, checked, quality, msg, batch)
            return
        failures = check_gates(stage.spec.gates, checked.value, quality)
        if failures:
            self._gate_failed(live, run, stage, checked, quality, msg, failures, batch)
        else:
            self._accept(live, run, stage, checked, quality, msg, batch)

    def _record(
        self,
        run: Run,
        live: _Live,
        stage: Stage,
        checked: ValidOutput,
        quality: QualityMarkers,
        msg: TaskDone,
        batch: Batch,
        *,
        outcome: str,
        next_action: str,
        feedback: list[Feedback] | None = None,
    ) -> tuple[Run, Handoff]:
        rec = live.record
        handoff = Handoff(
            id=new_id("art"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=rec.stage,
            kind=stage.spec.output,
            next_action=next_action[:20_000],
            produced_by=msg.actor,
            quality=quality,
            revision=rec.revision,
            attempt=rec.attempt,
            created_at=time.time(),
            parents=list(run.latest.values()),
            tags=[*stage.spec.tags, *msg.tags],
            outcome=outcome,
            feedback=feedback or [],
            payload=msgspec.Raw(checked.payload),
        )
        batch.put_artifact(handoff)
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
        run = _bump(run, outputs=rec.stage, handoffs=True)
        self._metrics.handoff(run.pipeline, rec.stage, outcome, msg.seconds)
        return run, handoff

    def _accept(
        self,
        live: _Live,
        run: Run,
        stage: Stage,
        checked: ValidOutput,
        quality: QualityMarkers,
        msg: TaskDone,
        batch: Batch,
    ) -> None:
        nxt = stage.spec.next
        action = self._next_action(run, nxt)
        run, handoff = self._record(
            run, live, stage, checked, quality, msg, batch, outcome="accepted", next_action=action
        )
        run = msgspec.structs.replace(run, latest={**run.latest, stage.name: handoff.id})
        self._payloads[handoff.id] = checked.value
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

    def _reject(
        self,
        live: _Live,
        run: Run,
        stage: Stage,
        checked: ValidOutput,
        quality: QualityMarkers,
        msg: TaskDone,
        batch: Batch,
    ) -> None:
        verdict: Verdict = checked.value
        target = stage.spec.on_reject
        assert target is not None  # checked by config_problems
        feedback = list(verdict.feedback) or [
            Feedback(source="reviewer", issue="rejected without specific feedback")
        ]
        revisions = run.revisions.get(target, 0)
        limit = run.limits.get(target, stage.spec.max_revisions)
        exhausted = revisions >= limit
        action = (
            f"escalate: {stage.name} rejected {revisions + 1} outputs of {target}"
            if exhausted
            else f"revise {target}: {len(feedback)} feedback item(s)"
        )
        run, _ = self._record(
            run,
            live,
            stage,
            checked,
            quality,
            msg,
            batch,
            outcome="rejected",
            next_action=action,
            feedback=feedback,
        )
        self._finish_task(live, batch)
        if exhausted:
            summary = (
                f"{stage.name} rejected {revisions + 1} outputs of {target} "
                f"(max_revisions {limit}); last feedback: " + "; ".join(f.issue for f in feedback)
            )
            self._escalate(
                run,
                stage.name,
                "revisions_exhausted",
                summary,
                batch,
                retry_stage=target,
                approve_stage=stage.spec.next,
                artifact_id=run.latest.get(target),
                feedback=feedback,
            )
        else:
            self._revise(run, target, feedback, batch)

    def _gate_failed(
        self,
        live: _Live,
        run: Run,
        stage: Stage,
        checked: ValidOutput,
        quality: QualityMarkers,
        msg: TaskDone,
        failures: list[Feedback],
        batch: Batch,
    ) -> None:
        revisions = run.revisions.get(stage.name, 0)
        limit = run.limits.get(stage.name, stage.spec.max_revisions)
        exhausted = revisions >= limit
        issues = "; ".join(f.issue for f in failures)
        action = f"escalate: {issues}" if exhausted else f"revise {stage.name}: {issues}"
        run, handoff = self._record(
            run,
            live,
            stage,
            checked,
            quality,
            msg,
            batch,
            outcome="gate_failed",
            next_action=action,
            feedback=failures,
        )
        self._finish_task(live, batch)
        if exhausted:
            summary = (
                f"{stage.name} failed its quality gates {revisions + 1} times "
                f"(max_revisions {limit}): {issues}"
            )
            self._escalate(
                run,
                stage.name,
                "revisions_exhausted",
                summary,
                batch,
                retry_stage=stage.name,
                approve_stage=stage.spec.next,
                artifact_id=handoff.id,
                feedback=failures,
            )
        else:
            self._revise(run, stage.name, failures, batch)

    def _revise(self, run: Run, stage: str, feedback: list[Feedback], batch: Batch) -> None:
        run = _bump(run, revisions=stage)
        self._health("revision", pipeline=run.pipeline, stage=stage, run_id=run.run_id)
        self._new_task(run, stage, batch, feedback=feedback)

    def _on_failed(self, msg: TaskFailed, batch: Batch) -> None:
        live = self._current(msg.task_id, msg.attempt, msg.actor)
        if live is None:
            return
        rec = live.record
        self._metrics.handoff(rec.pipeline, rec.stage, "error", msg.seconds)
        run = self._runs[rec.run_id]
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        self._failure(live, run, stage, batch, "retries_exhausted", msg.error, [])

    def _on_lease_expired(self, msg: LeaseExpired, batch: Batch) -> None:
        live = self._live.get(msg.task_id)
        if live is None or live.record.attempt != msg.attempt or live.slot is None:
            return
        live.avoid, live.slot = live.slot, None  # its late result will be stale
        rec = live.record
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        error = f"timed out after {stage.spec.timeout:g}s on {live.avoid.name}"
        self._failure(live, self._runs[rec.run_id], stage, batch, "retries_exhausted", error, [])

    def _failure(
        self,
        live: _Live,
        run: Run,
        stage: Stage,
        batch: Batch,
        reason: EscalationReason,
        error: str,
        feedback: list[Feedback],
    ) -> None:
        """An attempt failed (raised, timed out, invalid output): retry or escalate."""
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
        if rec.attempt >= stage.spec.max_attempts:
            self._finish_task(live, batch, error=error)
            what = "returned invalid output" if reason == "invalid_output" else "failed"
            summary = f"{rec.stage} {what} on all {rec.attempt} attempts; last: {error}"
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
        record = msgspec.structs.replace(
            rec,
            state="ready" if delay else "running",
            attempt=rec.attempt + 1,
            feedback=feedback or rec.feedback,
            not_before=now + delay if delay else None,
            lease_deadline=_lease(stage, now + delay),
            updated_at=now,
            last_error=error[:20_000],
        )
        live.record = record
        batch.put_task(record)
        run = msgspec.structs.replace(run, attempts={**run.attempts, rec.stage: record.attempt})
        self._put_run(run, batch)
        self._after.append(lambda: self._dispatch_later(live, delay))

    # ----------------------------------------------------------------- runs and tasks

    def _put_run(self, run: Run, batch: Batch) -> Run:
        old = self._runs.get(run.run_id)
        run = msgspec.structs.replace(run, updated_at=time.time())
        batch.put_run(run)
        if run.state in ("running", "escalated"):
            self._runs[run.run_id] = run
        else:
            self._runs.pop(run.run_id, None)
        if old is None or old.state != run.state:
            before = None if old is None else old.state
            self._after.append(lambda: self._count_state(before, run.state))
        return run

    def _count_state(self, before: str | None, after: str) -> None:
        if before is not None:
            self._metrics.runs.labels(before).dec()
        self._metrics.runs.labels(after).inc()

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
        record = TaskRecord(
            task_id=new_id("task"),
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=stage_name,
            role=stage.spec.role,
            state="running",
            revision=run.outputs.get(stage_name, 0),
            attempt=1,
            feedback=feedback or [],
            lease_deadline=_lease(stage, now),
            created_at=now,
            updated_at=now,
        )
        batch.put_task(record)
        live = self._live[record.task_id] = _Live(record)
        run = msgspec.structs.replace(
            run,
            state="running",
            stage=stage_name,
            escalation_id=None,
            attempts={**run.attempts, stage_name: 1},
        )
        self._put_run(run, batch)
        self._after.append(lambda: self._dispatch(live))

    def _finish_task(self, live: _Live, batch: Batch, *, error: str | None = None) -> None:
        rec = live.record
        now = time.time()
        batch.put_task(
            msgspec.structs.replace(
                rec,
                state="done",
                updated_at=now,
                lease_deadline=None,
                last_error=error[:20_000] if error else rec.last_error,
            )
        )
        self._live.pop(rec.task_id, None)
        self._after.append(self._check_drained)

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
        run = msgspec.structs.replace(run, state=state, stage=None, reason=reason)
        self._put_run(run, batch)
        batch.event(f"run.{state}", run_id=run.run_id, pipeline=run.pipeline, detail=reason or "")
        revisions = sum(run.revisions.values())
        latest = list(run.latest.values())

        def settled() -> None:
            self._metrics.run_revisions.observe(revisions)
            for artifact_id in latest:
                self._payloads.pop(artifact_id, None)
            self._waiters.notify()

        self._after.append(settled)

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
        history += [h.id for h, _ in batch.artifacts if h.run_id == run.run_id]
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
        batch.put_escalation(escalation)
        run = msgspec.structs.replace(
            run, state="escalated", stage=stage, escalation_id=escalation.id
        )
        self._put_run(run, batch)
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

    # ----------------------------------------------------------------- requests

    def _on_submit(self, msg: Submit, batch: Batch) -> None:
        if msg.pipeline not in self._pipelines.pipelines:
            raise UnknownPipeline(msg.pipeline, list(self._pipelines.pipelines))
        key = msg.idempotency_key
        if key is not None:
            known = self._staged_keys.get(key)
            if known is None:
                record = self._store.get_idempotency(key)
                known = None if record is None else (record.run_id, record.digest)
            if known is not None:
                run_id, digest = known
                if digest != msg.digest:
                    raise IdempotencyConflict(key, run_id)
                self._after.append(lambda: msg.reply.set((run_id, False)))
                return
        run = self._start_run(msg.pipeline, msg.input, batch, key=key)
        if key is not None:
            batch.put_idempotency(key, run.run_id, msg.digest)
            self._staged_keys[key] = (run.run_id, msg.digest)
        run_id = run.run_id
        self._after.append(lambda: msg.reply.set((run_id, True)))

    def _on_resolve(self, msg: Resolve, batch: Batch) -> None:
        escalation = self._store.get_escalation(msg.escalation_id)
        if escalation is None:
            raise EscalationNotFound(msg.escalation_id)
        if escalation.state == "resolved" or escalation.resolution is not None:
            action = escalation.resolution.action if escalation.resolution else "resolved"
            raise EscalationResolved(escalation.id, action)
        run = self._runs.get(escalation.run_id)
        if run is None or run.escalation_id != escalation.id:
            raise EscalationResolved(escalation.id, "run moved on")
        resolved = msgspec.structs.replace(
            escalation,
            state="resolved",
            resolution=Resolution(action=msg.action, feedback=msg.feedback, at=time.time()),
        )
        batch.put_escalation(resolved)
        batch.event(
            "escalation.resolved",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=escalation.stage,
            detail=f"{msg.action}: {msg.feedback or ''}"[:20_000],
        )
        human = (
            [Feedback(source="human", issue=msg.feedback, severity="major")] if msg.feedback else []
        )
        if msg.action == "cancel":
            self._end_run(run, "cancelled", batch, reason=msg.feedback or "cancelled by a person")
        elif msg.action == "revise":
            target = escalation.retry_stage or escalation.stage
            run = _bump(run, revisions=target)
            run = msgspec.structs.replace(run, limits={**run.limits, target: run.revisions[target]})
            self._health("revision", pipeline=run.pipeline, stage=target, run_id=run.run_id)
            self._new_task(run, target, batch, feedback=[*human, *escalation.feedback][:100])
        elif escalation.reason == "revisions_exhausted":
            if escalation.artifact_id is not None:
                accepted = self._store.get_artifact(escalation.artifact_id)
                if accepted is not None:
                    run = msgspec.structs.replace(
                        run, latest={**run.latest, accepted.stage: accepted.id}
                    )
            self._advance(run, escalation.approve_stage, batch)
        else:
            self._new_task(run, escalation.retry_stage or escalation.stage, batch, feedback=human)
        reply = msg.reply
        if reply is not None:
            self._after.append(lambda: reply.set(resolved))
        self._after.append(self._metrics.escalations_open.dec)

    def _on_role_down(self, role: str, reason: str, batch: Batch) -> None:
        """Escalate every run waiting on ``role``; their work stays durably in the store."""
        self._dispatcher.down.add(role)
        waiting = [live for live in self._live.values() if live.record.role == role]
        for live in waiting:
            rec = live.record
            run = self._runs.get(rec.run_id)
            self._finish_task(live, batch, error=f"role {role} is down")
            if run is None:
                continue
            self._escalate(
                run,
                rec.stage,
                "role_down",
                f"role {role} is down ({reason}); {rec.stage} cannot run",
                batch,
                retry_stage=rec.stage,
                approve_stage=None,
                artifact_id=None,
                feedback=[],
            )
        self._dispatcher.waiting(role).clear()

    def _resume_role(self, role: str) -> None:
        """The role is back: approve its ``role_down`` escalations, which dispatches the work."""
        for escalation in self._store.escalations(state="open", limit=_ALL).items:
            if escalation.reason != "role_down":
                continue
            stage = self._pipelines.stages.get((escalation.pipeline, escalation.stage))
            if stage is not None and stage.spec.role == role:
                self._pending.append(Resolve(escalation.id, "approve", "role restarted", None))
        self._flush()

    # ----------------------------------------------------------------- dispatch

    def _dispatch_later(self, live: _Live, delay: float) -> None:
        if delay <= 0:
            self._dispatch(live)
            return
        message = Redispatch(live.record.task_id, live.record.attempt)
        ref = self.actor_ref
        self._timers.call_later(delay, lambda: ref.tell(message))

    def _dispatch(self, live: _Live) -> None:
        # Already sent (through the waiting queue, say): one agent per attempt.
        if (
            self._drain is not None
            or live.slot is not None
            or live.record.task_id not in self._live
        ):
            return
        role = live.record.role
        slot = self._dispatcher.pick(role, avoid=live.avoid)
        if slot is None:
            self._dispatcher.enqueue(role, live.record.task_id)
        else:
            self._send(live, slot)

    def _pump(self, role: str) -> None:
        if self._drain is not None:
            return
        queue = self._dispatcher.waiting(role)
        while queue:
            slot = self._dispatcher.pick(role)
            if slot is None:
                return
            live = self._live.get(queue.popleft())
            if live is not None and live.slot is None:
                self._send(live, slot)

    def _send(self, live: _Live, slot: Slot) -> None:
        rec = live.record
        task = self._build_task(rec)
        try:
            slot.ref.tell(Perform(task))
        except pykka.ActorDeadError:
            # Died, and its ActorExited (told after its last result) is on the way: send it
            # nothing more, give this task to another, and leave what it held to _on_exit.
            self._dispatcher.remove(slot.role, slot.index, slot.name)
            self._dispatch(live)
            return
        slot.inflight.add((rec.task_id, rec.attempt))
        live.slot = slot
        self._metrics.inflight(slot.role).inc()
        if task.deadline is not None:
            expired = LeaseExpired(rec.task_id, rec.attempt)
            ref = self.actor_ref
            self._timers.call_later(task.deadline - time.time(), lambda: ref.tell(expired))

    def _build_task(self, rec: TaskRecord) -> Task:
        run = self._runs[rec.run_id]
        spec = self._pipelines.stage(rec.pipeline, rec.stage).spec
        inputs = {name: self._payload(aid) for name, aid in run.latest.items()}
        return Task(
            task_id=rec.task_id,
            run_id=rec.run_id,
            pipeline=rec.pipeline,
            stage=rec.stage,
            instruction=render_instruction(spec.instruction, run.input),
            input=run.input,
            inputs=inputs,
            feedback=rec.feedback,
            revision=rec.revision,
            attempt=rec.attempt,
            deadline=None if spec.timeout is None else time.time() + spec.timeout,
        )

    def _payload(self, artifact_id: str) -> Any:
        value = self._payloads.get(artifact_id)
        if value is None:
            handoff = self._store.get_artifact(artifact_id)
            if handoff is None:
                raise StoreError(f"artifact {artifact_id} is missing from the store")
            contract = self._pipelines.registry.get(handoff.kind)
            value = decode_msgpack(handoff.payload, contract)
            self._payloads[artifact_id] = value
        return value

    def _on_exit(self, msg: ActorExited) -> None:
        """The actor is gone, and every result it sent is decided: what it held and had not
        answered goes to another actor, at the same attempt (it never ran)."""
        slot = self._slots_by_name.pop(msg.actor, None)
        if slot is None:
            return
        self._dispatcher.remove(slot.role, slot.index, slot.name)
        self._metrics.inflight(slot.role).dec(len(slot.inflight))
        # pykka dropped whatever was queued in the dead actor's mailbox: send it again.
        for task_id, attempt in sorted(slot.inflight):
            live = self._live.get(task_id)
            if live is not None and live.record.attempt == attempt and live.slot is slot:
                live.slot = None
                self._dispatcher.enqueue(slot.role, task_id, front=True)
        slot.inflight.clear()
        self._pump(slot.role)

    def _check_drained(self) -> None:
        drain = self._drain
        if drain is not None and self._dispatcher.inflight_total() == 0:
            self._drain = None
            drain.set(None)

    def _health(self, kind: str, **fields: str) -> None:
        supervisor = self.supervisor
        if supervisor is not None:
            event = HealthEvent(kind, **fields)  # type: ignore[arg-type]
            self._after.append(lambda: supervisor.tell(event))

    # ----------------------------------------------------------------- queries

    def statistics(self) -> OrchestratorStatistics:
        """Live counts (call through a proxy): runs, tasks, waiting, in flight."""
        return OrchestratorStatistics(
            active_runs=len(self._runs),
            live_tasks=len(self._live),
            inflight=self._dispatcher.inflight_total(),
            waiting={r: len(self._dispatcher.waiting(r)) for r in self._dispatcher.roles()},
            roles_down=sorted(self._dispatcher.down),
            processed=self.processed,
            stale=self.stale,
        )


def _lease(stage: Stage, start: float) -> float | None:
    timeout = stage.spec.timeout
    return None if timeout is None else start + timeout


def _bump(
    run: Run, *, outputs: str | None = None, revisions: str | None = None, handoffs: bool = False
) -> Run:
    changes: dict[str, Any] = {}
    if outputs is not None:
        changes["outputs"] = {**run.outputs, outputs: run.outputs.get(outputs, 0) + 1}
    if revisions is not None:
        changes["revisions"] = {**run.revisions, revisions: run.revisions.get(revisions, 0) + 1}
    if handoffs:
        changes["handoffs"] = run.handoffs + 1
    return msgspec.structs.replace(run, **changes)
