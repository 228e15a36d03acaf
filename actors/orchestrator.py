"""The orchestrator: the single writer of pipeline state.

For each agent result it drops what is no longer current (keyed by task id and attempt),
validates the output against the stage's contract, applies the quality gates, and decides:
next stage, back to a producer with feedback, escalate, or done. Every decision becomes a
store batch; the batches of all results waiting in the mailbox are committed in ONE write
transaction (group commit), and only then are the next tasks dispatched.

Everything here runs on the orchestrator's own thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.errors import StoreUnavailable
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.metrics import RuntimeMetrics, Tally
from handoffs.actors.pipelines import Pipelines
from handoffs.actors.protocol import (
    ActorExited,
    ActorStarted,
    Cancel,
    CommitDone,
    Drain,
    HealthEvent,
    LeaseExpired,
    OrchestratorMessage,
    Perform,
    QueueExpired,
    Redispatch,
    Resolve,
    Resume,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.requests import Requests
from handoffs.actors.results import Results
from handoffs.actors.stall import STRIKES, Stall, refusal
from handoffs.actors.state import _ALL, LiveTask, render_instruction
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.messages import (
    QualityMarkers,
    Run,
    Task,
    TaskRecord,
    decode_msgpack,
)
from handoffs.store import Batch, Store, StoreError

__all__ = ["Orchestrator", "OrchestratorStatistics", "render_instruction"]

log = logging.getLogger("handoffs.orchestrator")

#: With this many decisions open and the committer free, they are committed at once, not when
#: the mailbox empties: under load the mailbox only empties once every run in flight has been
#: decided, and the whole window would move as one cohort, each fsync idling the GIL. Smaller
#: groups overlap one group's commit with deciding the next (16-64 measured alike on (a)).
EAGER_GROUP = 32
#: Groups of at most this many decisions are committed on the orchestrator's own thread.
INLINE_GROUP = 2


class OrchestratorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The orchestrator's live state: active runs, live tasks, tasks in flight and waiting."""

    active_runs: int
    live_tasks: int
    inflight: int
    waiting: dict[str, int]
    roles_down: list[str]
    processed: int
    stale: int
    #: Why the store refuses writes (dispatching stopped), or ``None``.
    degraded: str | None = None


#: One decision of a group: its message, its batch, and its effects (a slice of ``after``).
_Span = tuple[Any, Batch, int, int]


class _Group:
    """What waits for a group of decisions to be committed."""

    __slots__ = ("after", "batches", "keys", "replies", "settles", "spans", "tally")

    def __init__(
        self,
        batches: list[Batch],
        after: list[Callable[[], None]],
        replies: list[pykka.Future[Any]],
        keys: list[str],
        tally: Tally,
        settles: bool,
        spans: list[_Span],
    ) -> None:
        self.batches = batches
        self.after = after
        self.replies = replies
        self.keys = keys
        self.tally = tally
        self.settles = settles
        self.spans = spans


class _RetryStore(msgspec.Struct, frozen=True):
    """Timer -> orchestrator: try the store again (it refused writes)."""


class _Committer:
    """Commits groups on its own thread, one at a time and in order, and tells the
    orchestrator ``CommitDone``. Write transactions open and close on this thread, so the
    orchestrator decides the next group while this one is fsynced."""

    def __init__(self, store: Store, orchestrator: pykka.ActorRef[Any]) -> None:
        self._store = store
        self._orchestrator = orchestrator
        self._queue: queue.SimpleQueue[list[Batch] | None] = queue.SimpleQueue()
        self._applied = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="handoffs-committer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batches: list[Batch]) -> None:
        """Commit ``batches``; returns once they are in the write transaction, before its
        commit and fsync. Every LMDB put drops the GIL, so puts made while the caller runs
        would each wait for it (a convoy): the caller waits out the puts, not the fsync."""
        self._applied.clear()
        self._queue.put(batches)
        self._applied.wait()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while (batches := self._queue.get()) is not None:
            try:
                error = _commit(self._store, batches, applied=self._applied.set)
            finally:
                self._applied.set()
            with contextlib.suppress(pykka.ActorDeadError):
                self._orchestrator.tell(CommitDone(error))


def _commit(
    store: Store, batches: list[Batch], *, applied: Callable[[], None] | None = None
) -> BaseException | None:
    """Commit ``batches`` (if any); return why it failed, if it did. Any error, a StoreError
    or another: the orchestrator voids what was decided and reloads from the store."""
    try:
        if batches:
            store.commit(batches, applied=applied)
    except Exception as exc:
        return exc
    return None


class Orchestrator(Results, Requests, ThreadActor):
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
        paused: bool = False,
    ) -> None:
        super().__init__()
        self._store = store
        self._pipelines = pipelines
        self._metrics = metrics
        self._timers = timers
        self._waiters = waiters
        self.supervisor = supervisor
        self._dispatcher = Dispatcher()
        self._slots_by_name: dict[str, Slot] = {}
        self._runs: dict[str, Run] = {}
        self._live: dict[str, LiveTask] = {}
        self._payloads: dict[str, tuple[Any, QualityMarkers]] = {}
        # The open group: decisions not yet handed to the committer.
        self._open: list[Batch] = []
        self._after: list[Callable[[], None]] = []
        self._open_replies: list[pykka.Future[Any]] = []
        self._open_keys: list[str] = []
        self._open_spans: list[_Span] = []
        #: Per role: tasks written ``running`` whose dispatch waits for that commit.
        self._marking: dict[str, int] = {}
        #: Opened paused (``Resume`` ends it): recovered work waits, nothing is dispatched.
        self._paused = paused
        #: The stages with a ``queue_timeout``, by (pipeline, stage).
        self._queue_limits = {
            key: stage.spec.queue_timeout
            for key, stage in pipelines.stages.items()
            if stage.spec.queue_timeout is not None
        }
        self._stall = Stall()
        self._tally = Tally()
        self._settles = False
        self._staged_keys: dict[str, tuple[str, str]] = {}
        self._committing: _Group | None = None
        self._committer = _Committer(store, self.actor_ref)
        self._drain: pykka.Future[Any] | None = None
        self.processed = 0
        self.stale = 0

    # ----------------------------------------------------------------- lifecycle

    def on_start(self) -> None:
        """Load live state from the store (the truth). Runs in the orchestrator's thread."""
        self._committer.start()
        self._recover()

    def on_stop(self) -> None:
        """Stop the committer after the group it holds. Runs in the orchestrator's thread."""
        self._committer.stop()

    def _recover(self, *, soft: bool = False) -> None:
        """Rebuild memory from the store: active runs, and every ready or running task, which
        is dispatched again. A task written running when the process stopped may have been
        on an agent, maybe the one that stopped it: that attempt counts (attempt + 1, or an
        escalation after ``max_attempts``), committed before anything is dispatched.

        ``soft``: this process still runs its agents (a decision or a commit went wrong): a
        task an agent holds stays with it, and is not dispatched a second time."""
        held = {key: s for s in self._slots_by_name.values() for key in s.inflight} if soft else {}
        self._marking = {}
        self._runs = {}
        for state in ("running", "escalated"):
            for run in self._store.runs(state=state, limit=_ALL).items:
                self._runs[run.run_id] = run
        self._live = {}
        self._payloads = {}
        if not soft:
            for slot in self._slots_by_name.values():
                self._metrics.inflight(slot.role, -len(slot.inflight))
                slot.inflight.clear()
        for role in list(self._dispatcher.roles()):
            self._dispatcher.waiting(role).clear()
        counts = self._store.count_runs()
        for state in ("running", "completed", "escalated", "failed", "cancelled"):
            self._metrics.run_counts[state] = counts.get(state, 0)
        self._metrics.escalations_open.set(self._store.count_escalations().get("open", 0))
        now = time.time()
        pending = [r for r in self._store.pending_tasks() if r.run_id in self._runs]
        if not soft:
            counted = self._count_orphans(pending)
            if counted is None:  # the store refused: dispatch as they are
                self._recover(soft=True)
                return
            pending = counted
        for record in pending:
            live = self._live[record.task_id] = LiveTask(record)
            holder = held.get((record.task_id, record.attempt))
            if holder is not None:
                live.slot = holder  # its agent has it: its result is awaited, not a retry
                continue
            delay = 0.0 if record.not_before is None else record.not_before - now
            self._dispatch_later(live, delay)

    def _count_orphans(self, records: list[TaskRecord]) -> list[TaskRecord] | None:
        """Every task written running (see ``_recover``) fails its attempt, as an agent's
        failure does (retried with backoff, or escalated after ``max_attempts``), all in one
        commit that also dispatches the retries. Return the other records, to dispatch, or
        ``None`` if the commit failed."""
        left: list[TaskRecord] = []
        for rec in records:
            stage = self._pipelines.stages.get((rec.pipeline, rec.stage))
            run = self._runs.get(rec.run_id)
            if rec.state != "running" or stage is None or run is None:
                left.append(rec)
                continue
            live = self._live[rec.task_id] = LiveTask(rec)
            batch = Batch(check=False)
            self._open.append(batch)
            error = f"the process stopped while attempt {rec.attempt} ran"
            self._failure(live, run, stage, batch, "retries_exhausted", error, [])
        if not self._open:
            return left
        failed = self._commit_open_inline()
        if failed is not None:
            log.critical("orchestrator: cannot count the attempts cut short: %s", failed)
            return None
        return left

    # ----------------------------------------------------------------- mailbox

    def on_receive(self, message: OrchestratorMessage | _RetryStore) -> Any:
        """Handle one message: a result or request is decided at once, into the open group.

        Nothing may stop this actor: an unexpected error is logged and memory is rebuilt from
        the store, which is the truth.
        """
        try:
            if self._stall.holding and self._held_back(message):
                return None
            self._receive(message)
            self._maybe_commit()
        except Exception:
            log.exception(
                "orchestrator: %s failed; reloading from the store", type(message).__name__
            )
            self._fail_open(RuntimeError("the orchestrator reloaded its state"))
            self._recover(soft=True)
        return None

    def _held_back(self, message: OrchestratorMessage | _RetryStore) -> bool:
        """While the store refuses writes: callers are answered at once, events that need a
        decision are held for later; ``True`` when ``message`` is dealt with so."""
        match message:
            case Submit() | Resolve() | Cancel():
                reply = message.reply
                if reply is not None:
                    error = StoreUnavailable(self._stall.reason or "")
                    reply.set_exception(exc_info=(type(error), error, None))
                return True
            case (
                TaskDone() | TaskFailed() | LeaseExpired() | QueueExpired() | RoleDown() | RoleUp()
            ):
                self._stall.held.append(message)
                return True
            case Drain(reply):
                reply.set(None)  # nothing can be stored: the store keeps what it has
                return True
        return False

    def _receive(self, message: OrchestratorMessage | _RetryStore) -> None:
        match message:
            case (
                TaskDone()
                | TaskFailed()
                | Submit()
                | Resolve()
                | Cancel()
                | LeaseExpired()
                | QueueExpired()
                | RoleDown()
            ):
                self._decide_one(message)
            case CommitDone(error):
                self._on_commit_done(error)
            case Redispatch(task_id, attempt):
                live = self._live.get(task_id)
                if live is not None and live.record.attempt == attempt and live.slot is None:
                    self._dispatch(live)
            case ActorStarted(role, index, handle, name):
                self._slots_by_name[name] = self._dispatcher.add(role, index, handle, name)
                self._pump(role)
            case ActorExited():
                # Every result the actor told before its exit is decided already.
                self._on_exit(message)
            case RoleUp(role, reply):
                self._dispatcher.down.discard(role)
                self._resume_role(role)
                if reply is not None:
                    resumed: pykka.Future[Any] = reply  # set once the resumptions commit
                    self._after.append(lambda: resumed.set(None))
            case Drain(reply):
                self._drain = reply
                self._check_drained()
            case _RetryStore():
                self._retry_store()
            case Resume():
                self._paused = False
                for role in list(self._dispatcher.roles()):
                    self._pump(role)
            case _:
                log.warning("orchestrator: unexpected message %r", message)  # type: ignore[unreachable]

    def _decide_one(self, message: OrchestratorMessage) -> None:
        """Decide ``message`` into the open group (its batch, its effects, its reply)."""
        batch = Batch(check=False)
        mark = len(self._after)
        try:
            self._decide(message, batch)
        except Exception as exc:
            del self._after[mark:]  # the failed decision's effects are void
            self._fail_decision(message, exc, self._open)
            return
        self._open.append(batch)
        self._open_spans.append((message, batch, mark, len(self._after)))
        reply = getattr(message, "reply", None)
        if reply is not None:
            self._open_replies.append(reply)
        self.processed += 1

    def _flush(self) -> None:
        """Hand the open group to the committer now, if it is free (it commits one at a time)."""
        if self._committing is not None or self._stall.holding or not (self._open or self._after):
            return
        group = self._close_open()
        batches = group.batches
        self._committing = group
        if len(batches) <= INLINE_GROUP:
            # Light load: commit here. The committer would cost three thread wake-ups (to
            # it, back once the puts are in, back with CommitDone), most of an unloaded
            # hop, and little arrives to be decided during this fsync anyway.
            self._on_commit_done(_commit(self._store, batches))
            return
        # Other messages are decided while this group's fsync runs; the group's effects
        # (dispatching its next tasks, replies) wait for CommitDone.
        self._committer.submit(batches)

    def _close_open(self) -> _Group:
        """The open group, as a group to commit; a new open group starts empty."""
        group = _Group(
            [b for b in self._open if len(b)],
            self._after,
            self._open_replies,
            self._open_keys,
            self._tally,
            self._settles,
            self._open_spans,
        )
        self._open, self._after, self._open_replies, self._open_keys = [], [], [], []
        self._open_spans = []
        self._tally, self._settles = Tally(), False
        return group

    def _maybe_commit(self) -> None:
        # Group commit sized by what is waiting: commit when the mailbox is empty or the group
        # is EAGER_GROUP large, one group at a time; the next collects meanwhile.
        # An inline commit's effects may open new decisions (tasks marked running before
        # their dispatch): with the mailbox empty they are committed now, not left waiting.
        while (
            (self._open or self._after)
            and self._committing is None
            and not self._stall.holding
            and (len(self._open) >= EAGER_GROUP or self.actor_inbox.empty())
        ):
            self._flush()

    def _on_commit_done(self, error: BaseException | None) -> None:
        group, self._committing = self._committing, None
        if group is None:
            return
        if error is not None:
            # Any failed commit stalls, with backoff: reloading and dispatching again at once
            # would loop while the failure lasts (and it may: a corrupt page, a bug).
            reason = refusal(error) or f"commit failed: {type(error).__name__}: {error}"
            self._stall_on(group, reason)  # logs the reason once per stall
            return
        self._complete(group)

    def _complete(self, group: _Group) -> None:
        """``group`` is committed: release its effects."""
        for key in group.keys:
            self._staged_keys.pop(key, None)
        for action in group.after:  # dispatches first: they are on the hop's critical path
            try:
                action()
            except Exception:  # one failed effect must not cost the others
                log.exception("orchestrator: post-commit action failed")
        self._metrics.apply(group.tally)
        if group.settles:
            self._waiters.notify()
        self._check_drained()

    # ----------------------------------------------------------------- a store refusing writes

    def _stall_on(self, group: _Group, reason: str) -> None:
        """``group`` did not commit because the store refuses writes: void it and the open
        group (callers get ``StoreUnavailable``), hold their events to decide them again,
        reload memory (agents keep what they hold), and stop dispatching."""
        error = StoreUnavailable(reason)
        spans = [*group.spans, *self._open_spans]
        for reply in group.replies:
            reply.set_exception(exc_info=(type(error), error, None))
        self._fail_open(error)
        events = [span[0] for span in spans if getattr(span[0], "reply", None) is None]
        self._stall.begin(reason, events, sum(b.nbytes() for b in group.batches))
        self._reload_holding(events)
        if self._drain is not None:  # closing: nothing more can be stored
            self._drain.set(None)
            self._drain = None
            return
        self._retry_later(self._stall.backoff())

    def _reload_holding(self, events: list[Any]) -> None:
        """Reload memory from the store; the agents whose results are among ``events``
        still count as holding those tasks, so the results are awaited, not the tasks
        dispatched again."""
        for event in events:
            if isinstance(event, TaskDone | TaskFailed):
                slot = self._slots_by_name.get(event.actor)
                key = (event.task_id, event.attempt)
                if slot is not None and key not in slot.inflight:
                    slot.inflight.add(key)
                    self._metrics.inflight(slot.role, 1)
        self._recover(soft=True)

    def _retry_later(self, delay: float) -> None:
        ref = self.actor_ref
        self._timers.call_later(delay, lambda: ref.tell(_RetryStore()))

    def _retry_store(self) -> None:
        """Decide the held events again, each in its own commit (with none held, write a
        probe). All in: the stall ends and dispatching resumes. An event that failed in
        ``STRIKES`` rounds in which others went in is isolated (its run fails); when none
        goes in, try again later."""
        stall = self._stall
        if stall.reason is None or self._drain is not None:
            return
        try:
            short = self._store.room_for(stall.need)
        except StoreError as exc:
            short = str(exc)
        if short is not None:
            stall.reason = short
            self._retry_later(stall.backoff())
            return
        held, stall.held = list(stall.held), type(stall.held)()
        stall.retry(True)
        went_in = 0
        failed: list[tuple[Any, BaseException]] = []
        try:
            for i, event in enumerate(held):
                try:
                    self._receive(event)
                except Exception:  # a bug deciding it: what is not decided waits again
                    stall.held.extend([*(e for e, _ in failed), *held[i:]])
                    self._retry_later(stall.backoff())
                    raise
                error = self._commit_open_inline()
                if error is None:
                    went_in += 1
                else:
                    failed.append((event, error))
                    self._reload_holding([event])
        finally:
            stall.retry(False)
        if not failed:
            stall.end()
            for role in list(self._dispatcher.roles()):
                self._pump(role)
            return
        events = [event for event, _ in failed]
        if went_in:
            for event, error in failed:
                strikes = stall.strikes.get(id(event), 0) + 1
                stall.strikes[id(event)] = strikes
                if strikes >= STRIKES:
                    events.remove(event)
                    log.error("orchestrator: a decision cannot be stored, isolated: %s", error)
                    self._fail_decision(event, error, self._open)
                    self._commit_open_inline()
        stall.reason = refusal(failed[-1][1]) or stall.reason
        stall.held.extendleft(reversed(events))
        self._retry_later(stall.delay if went_in else stall.backoff())

    def _commit_open_inline(self) -> BaseException | None:
        """Commit the open group here and now; release its effects, or void it."""
        group = self._close_open()
        error = _commit(self._store, group.batches)
        if error is None:
            self._complete(group)
            return None
        for reply in group.replies:
            reply.set_exception(exc_info=(type(error), error, None))
        self._staged_keys = {}
        return error

    def _fail_open(self, error: BaseException) -> None:
        """Decisions not committed are void: their callers get ``error``. (Their replies are
        unset: a decision's reply is only set by its effects, after its commit.)"""
        for reply in self._open_replies:
            reply.set_exception(exc_info=(type(error), error, error.__traceback__))
        self._open, self._after, self._open_replies, self._open_keys = [], [], [], []
        self._open_spans = []
        self._tally, self._settles = Tally(), False
        self._staged_keys = {}

    def _fail_decision(
        self, message: OrchestratorMessage, exc: BaseException, out: list[Batch]
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
            case Cancel():
                self._on_cancel(message, batch)
            case LeaseExpired():
                self._on_lease_expired(message, batch)
            case QueueExpired():
                self._on_queue_expired(message, batch)
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
        if live.queued_at == 0.0:
            live.queued_at = time.monotonic()
            limits = self._queue_limits
            limit = limits.get((live.record.pipeline, live.record.stage)) if limits else None
            if limit is not None:
                expired = QueueExpired(live.record.task_id, live.record.attempt)
                ref = self.actor_ref
                self._timers.call_later(limit, lambda: ref.tell(expired))
        if self._stall.reason is not None or self._paused:
            # No agent works while nothing can be stored (or before the runtime resumes).
            self._dispatcher.enqueue(live.record.role, live.record.task_id)
            return
        if live.record.state != "running":
            if self._can_mark(live.record.role):
                self._mark(live)
            else:
                self._dispatcher.enqueue(live.record.role, live.record.task_id)
            return
        role = live.record.role
        slot = self._dispatcher.pick(role, avoid=live.avoid)
        if slot is None:
            self._dispatcher.enqueue(role, live.record.task_id)
        else:
            self._send(live, slot)

    def _pump(self, role: str) -> None:
        if self._drain is not None or self._stall.reason is not None or self._paused:
            return
        queue = self._dispatcher.waiting(role)
        while queue:
            live = self._live.get(queue[0])
            if live is None or live.slot is not None:
                queue.popleft()
                continue
            if live.record.state != "running":
                if not self._can_mark(role):
                    return
                queue.popleft()
                self._mark(live)
                continue
            slot = self._dispatcher.pick(role)
            if slot is None:
                return
            queue.popleft()
            self._send(live, slot)

    # ----------------------------------------------------------------- attempts are durable

    def _can_mark(self, role: str) -> bool:
        """Whether ``role`` has room for one more task beyond those being marked."""
        if self._paused or self._stall.reason is not None:
            return False
        return self._dispatcher.has_room(role, self._marking.get(role, 0))

    def _mark(self, live: LiveTask) -> None:
        """Write the task ``running`` (its attempt durable: a process that dies while an
        agent works on it counts that attempt), and dispatch it once that is committed."""
        rec = live.record
        record = msgspec.structs.replace(rec, state="running", updated_at=time.time())
        batch = Batch(check=False)
        batch.put_task(record, was=rec.state)
        live.record = record
        self._open.append(batch)
        self._reserve(live)

    def _reserve(self, live: LiveTask) -> None:
        """``live`` is written ``running`` in the open group: hold room for it, and dispatch
        it once the group is committed."""
        role = live.record.role
        self._marking[role] = self._marking.get(role, 0) + 1

        def marked() -> None:
            self._marking[role] = max(0, self._marking.get(role, 0) - 1)
            self._dispatch(live)

        self._after.append(marked)

    def _send(self, live: LiveTask, slot: Slot) -> None:
        rec = live.record
        task = self._build_task(rec)
        stage = self._pipelines.stage(rec.pipeline, rec.stage)
        spec = stage.spec
        perform = Perform(
            task, stage.contract, spec.output, spec.timeout, live.queued_at, spec.max_output_bytes
        )
        try:
            slot.handle.send(perform)
        except pykka.ActorDeadError:
            # Died, and its ActorExited (told after its last result) is on the way: send it
            # nothing more, give this task to another, and leave what it held to _on_exit.
            self._dispatcher.remove(slot.role, slot.index, slot.name)
            self._dispatch(live)
            return
        slot.inflight.add((rec.task_id, rec.attempt))
        live.slot = slot
        self._metrics.inflight(slot.role, 1)

    def _build_task(self, rec: TaskRecord) -> Task:
        run = self._runs[rec.run_id]
        spec = self._pipelines.stage(rec.pipeline, rec.stage).spec
        inputs: dict[str, Any] = {}
        quality: dict[str, QualityMarkers] = {}
        for name, artifact_id in run.latest.items():
            inputs[name], quality[name] = self._payload(artifact_id)
        # The deadline is set by the agent when it starts the task: that starts the lease.
        return Task(
            task_id=rec.task_id,
            run_id=rec.run_id,
            pipeline=rec.pipeline,
            stage=rec.stage,
            instruction=render_instruction(spec.instruction, run.input),
            input=run.input,
            inputs=inputs,
            quality=quality,
            feedback=rec.feedback,
            revision=rec.revision,
            attempt=rec.attempt,
        )

    def _payload(self, artifact_id: str) -> tuple[Any, QualityMarkers]:
        """An upstream output, decoded, and its quality markers."""
        known = self._payloads.get(artifact_id)
        if known is None:
            handoff = self._store.get_artifact(artifact_id)
            if handoff is None:
                raise StoreError(f"artifact {artifact_id} is missing from the store")
            contract = self._pipelines.registry.get(handoff.kind)
            known = (decode_msgpack(handoff.payload, contract), handoff.quality)
            self._payloads[artifact_id] = known
        return known

    def _on_exit(self, msg: ActorExited) -> None:
        """The actor is gone, and every result it sent is decided: what it held and had not
        answered goes to another actor, at the same attempt (it never ran)."""
        slot = self._slots_by_name.pop(msg.actor, None)
        if slot is None:
            return
        self._dispatcher.remove(slot.role, slot.index, slot.name)
        self._metrics.inflight(slot.role, -len(slot.inflight))
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
        if drain is None or self._dispatcher.inflight_total():
            return
        if self._open or self._after:
            self._flush()  # what was decided must reach the store before close
            if self._drain is not drain:
                return  # committed inline, and that commit's own check set the drain
        if self._committing is None and not self._open:
            self._drain = None
            self._unmark_idle()
            drain.set(None)

    def _unmark_idle(self) -> None:
        """Closing with no task on an agent: tasks written running that no agent has are
        ready again, so the next open does not count an attempt for them."""
        idle = [
            live for live in self._live.values() if live.record.state == "running"
        ]  # drained: none is on an agent
        if not idle:
            return
        batch = Batch(check=False)
        for live in idle:
            batch.put_task(msgspec.structs.replace(live.record, state="ready"), was="running")
        error = _commit(self._store, [batch])
        if error is not None:
            log.warning("orchestrator: tasks stay running at close (%s)", error)

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
            degraded=self._stall.reason,
        )
