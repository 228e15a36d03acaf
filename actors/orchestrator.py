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
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.metrics import RuntimeMetrics
from handoffs.actors.pipelines import Pipelines
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
from handoffs.actors.requests import Requests
from handoffs.actors.results import Results
from handoffs.actors.state import _ALL, LiveTask, render_instruction
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.messages import (
    Run,
    Task,
    TaskRecord,
    decode_msgpack,
)
from handoffs.store import Batch, Store, StoreError

__all__ = ["Orchestrator", "OrchestratorStatistics", "render_instruction"]

log = logging.getLogger("handoffs.orchestrator")

#: Results waiting beyond this many are committed without waiting for the mailbox to empty.
MAX_GROUP = 512


class OrchestratorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The orchestrator's live state: active runs, live tasks, tasks in flight and waiting."""

    active_runs: int
    live_tasks: int
    inflight: int
    waiting: dict[str, int]
    roles_down: list[str]
    processed: int
    stale: int


class Orchestrator(Results, Requests, pykka.ThreadingActor):
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
        self._live: dict[str, LiveTask] = {}
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
            live = self._live[record.task_id] = LiveTask(record)
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
            batch = Batch(check=False)
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
        batch = Batch(check=False)
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

    # ----------------------------------------------------------------- dispatch

    def _dispatch_later(self, live: LiveTask, delay: float) -> None:
        if delay <= 0:
            self._dispatch(live)
            return
        message = Redispatch(live.record.task_id, live.record.attempt)
        ref = self.actor_ref
        self._timers.call_later(delay, lambda: ref.tell(message))

    def _dispatch(self, live: LiveTask) -> None:
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

    def _send(self, live: LiveTask, slot: Slot) -> None:
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
