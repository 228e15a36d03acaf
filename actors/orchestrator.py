"""The orchestrator: the shell around the decider, and the single writer of pipeline state.

Each message is fed to the :class:`~handoffs.actors.decider.Decider`, which returns a
decision (records, effects, reply, tallies). Decisions join the open group of the
:class:`~handoffs.actors.committer.GroupCommitter`; once a group is durable, the shell
performs its effects in order: dispatches the next tasks to agent actors, withdraws tasks
no longer wanted, answers callers, tells the supervisor, updates the metrics. Nothing is
dispatched or answered before the commit that makes it true.

The shell owns everything that is not a rule: which agent actor holds which task
(``Dispatcher``), timers, the mailbox, and what happens when the store refuses writes
(``Stall``). Everything here runs on the orchestrator's own thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import msgspec
import pykka
from handoffs.actors.committer import Entry, GroupCommitter, commit
from handoffs.actors.decider import Decider
from handoffs.actors.decision import (
    Decision,
    Effect,
    Later,
    LiveTask,
    Queue,
    Start,
    Withdraw,
    render_instruction,
)
from handoffs.actors.dispatch import Slot
from handoffs.actors.errors import StoreUnavailable
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.metrics import RuntimeMetrics, Tally
from handoffs.actors.pipelines import Pipelines
from handoffs.actors.protocol import (
    ActorExited,
    ActorStarted,
    ApprovalExpired,
    Cancel,
    CommitDone,
    Drain,
    LeaseExpired,
    OrchestratorMessage,
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
from handoffs.actors.routing import STARTING, Router
from handoffs.actors.stall import Stall, refusal
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.messages.errors import CallerError
from handoffs.store import Store

__all__ = ["Orchestrator", "OrchestratorStatistics", "render_instruction"]

log = logging.getLogger("handoffs.orchestrator")

#: "No limit" for store listings that must see everything (recovery).
_ALL = 1 << 62


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


class _RetryStore(msgspec.Struct, frozen=True):
    """Timer -> orchestrator: try the store again (it refused writes)."""


class Orchestrator(ThreadActor):
    """Feeds events to the decider, commits its decisions, performs their effects."""

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
        ref = self.actor_ref
        self._stall = Stall()
        self._router = router = Router(
            pipelines,
            store,
            metrics,
            timers,
            ref,
            self._stall,
            self._start,
            paused=paused,
        )
        # The router is the decider's Capacity, and reads the decider's memory.
        self._decider = Decider(pipelines, store, router)
        self._ledger = router.ledger = self._decider.ledger

        def committed(error: BaseException | None) -> None:  # on the committer's thread
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(CommitDone(error))

        self._committer = GroupCommitter(store, committed)
        self._drain: pykka.Future[Any] | None = None
        self.processed = 0

    # ----------------------------------------------------------------- lifecycle

    def on_start(self) -> None:
        """Load live state from the store (the truth). Runs in the orchestrator's thread."""
        self._committer.start()
        self._recover()

    def on_stop(self) -> None:
        """Stop the committer after the group it holds. Runs in the orchestrator's thread."""
        self._committer.stop()

    def _recover(self, *, soft: bool = False) -> None:
        """Rebuild memory from the store and dispatch every ready or running task again. A
        task written running when the process stopped may have been on an agent, maybe the
        one that stopped it: that attempt counts (attempt + 1, or an escalation after
        ``max_attempts``), committed before anything is dispatched.

        ``soft``: this process still runs its agents (a decision or a commit went wrong): a
        task an agent holds stays with it, and is not dispatched a second time."""
        held = self._router.forget(soft=soft)
        store = self._store
        runs = [
            run
            for state in ("running", "escalated")
            for run in store.runs(state=state, limit=_ALL).items
        ]
        escalations = store.escalations(state="open", limit=_ALL).items
        self._decider.load(runs, escalations, store.pending_tasks())
        counts = store.count_runs()
        for state in ("running", "completed", "escalated", "failed", "cancelled"):
            self._metrics.run_counts[state] = counts.get(state, 0)
        self._metrics.escalations_open.set(store.count_escalations().get("open", 0))
        now = time.time()
        pending = list(self._ledger.tasks.values())
        if not soft:
            waiting = [t for t in pending if t.record.state != "running"]
            cut = self._decider.cut_short(now)  # the others: its effects dispatch them
            if cut is not None:
                pending = waiting
                self._add(None, cut)
                if self.commit_now() is not None:  # the store refused: as they are
                    self._recover(soft=True)
                    return
        for timer in self._decider.timers(now):
            self._perform(timer)
        for live in pending:
            holder = held.get((live.record.task_id, live.record.attempt))
            if holder is not None:
                live.slot = holder  # its agent has it: its result is awaited, not a retry
                continue
            not_before = live.record.not_before
            self._router.dispatch_later(live, 0.0 if not_before is None else not_before - now)

    # ----------------------------------------------------------------- mailbox

    def on_receive(self, message: OrchestratorMessage | _RetryStore) -> Any:
        """Handle one message: an event is decided at once, into the open group.

        Nothing may stop this actor: an unexpected error is logged and memory is rebuilt from
        the store, which is the truth.
        """
        try:
            if self._stall.holding and self._stall.holds(message):
                return None
            self._receive(message)
            self._maybe_commit()
        except Exception:
            log.exception(
                "orchestrator: %s failed; reloading from the store", type(message).__name__
            )
            self._void(self._committer.take_open(), RuntimeError("the orchestrator reloaded"))
            self._recover(soft=True)
        return None

    def _receive(self, message: OrchestratorMessage | _RetryStore) -> None:
        kind = type(message)
        if kind is TaskDone or kind is TaskFailed:  # most messages: no pattern matching
            answer: TaskDone | TaskFailed = message  # type: ignore[assignment]
            self._router.answered(answer.actor, (answer.task_id, answer.attempt))
            self._decide(message)
            return
        match message:
            case Submit() | Resolve() | Cancel() | ApprovalExpired():
                self._decide(message)
            case LeaseExpired(task_id, attempt):
                live = self._ledger.tasks.get(task_id)
                slot = None if live is None else live.slot
                if live is None or live.record.attempt != attempt or not isinstance(slot, Slot):
                    return  # answered or moved on in time
                self._router.overran(live, slot)
                self._decide(message)
            case QueueExpired(task_id, attempt):
                live = self._ledger.tasks.get(task_id)
                if live is not None and live.record.attempt == attempt and live.slot is None:
                    self._decide(message)  # still waiting (an agent's lease applies otherwise)
            case RoleDown(role):
                self._router.dispatcher.down.add(role)
                self._router.dispatcher.waiting(role).clear()
                self._decide(message)
            case RoleUp(role):
                self._router.dispatcher.down.discard(role)
                self._decide(message)
            case CommitDone(error):
                self._commit_done(self._committer.finished(), error)
            case Redispatch(task_id, attempt):
                live = self._ledger.tasks.get(task_id)
                if live is not None and live.record.attempt == attempt and live.slot is None:
                    self._router.dispatch(live)
            case ActorStarted(role, index, handle, name):
                self._router.add_actor(role, index, handle, name)
            case ActorExited():
                # Every result the actor told before its exit is decided already.
                self._router.on_exit(message)
            case Drain(reply):
                self._drain = reply
                self._router.draining = True
                self._check_drained()
            case _RetryStore():
                self._retry_store()
            case Resume():
                self._router.paused = False
                self._router.pump_all()
            case _:
                log.warning("orchestrator: unexpected message %r", message)

    def _decide(self, event: Any) -> None:
        """Decide ``event`` into the open group. A caller's error goes back to the caller
        at once. Any other (a bug, corrupt stored data) fails the task's run with the
        reason, or, deciding a caller's request, reaches the caller and reloads memory (the
        decision may have changed it halfway)."""
        now = time.time()
        try:
            decision = self._decider.decide(event, now)
        except Exception as exc:
            reply = getattr(event, "reply", None)
            if reply is not None:
                reply.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
                if isinstance(exc, CallerError):
                    return
                raise
            log.error("orchestrator: deciding %s failed", type(event).__name__, exc_info=exc)
            failed = self._decider.fail(event, exc, now)
            if failed is not None:
                self._add(None, failed)
            return
        self._add(event, decision)
        self.processed += 1

    def _add(self, event: Any, decision: Decision) -> None:
        """Into the open group; the tasks it starts wait for its commit (``STARTING``)."""
        for effect in decision.effects:
            if type(effect) is Start:
                effect.live.slot = STARTING
        self._committer.add(event, decision)

    def _start(self, live: LiveTask) -> None:
        """The router's: ``live`` waited and has room now (reserved): write it running."""
        self._add(None, self._decider.start(live, time.time()))

    # ----------------------------------------------------------------- commit

    def _maybe_commit(self) -> None:
        # Group commit sized by what is waiting: commit when the mailbox is empty or the group
        # is large, one group at a time; the next collects meanwhile. An inline commit's
        # effects may open new decisions (tasks marked running before their dispatch): with
        # the mailbox empty they are committed now, not left waiting.
        committer = self._committer
        while not self._stall.holding and committer.due(self.actor_inbox.empty()):
            self._flush()

    def _flush(self) -> None:
        """Hand the open group to the committer now, if it is free."""
        committer = self._committer
        if committer.committing is not None or self._stall.holding or not committer.open:
            return
        inline = committer.flush()
        if inline is not None:
            self._commit_done(*inline)

    def _commit_done(self, group: list[Entry], error: BaseException | None) -> None:
        if error is None:
            self._complete(group)
            return
        # Any failed commit stalls, with backoff: reloading and dispatching again at once
        # would loop while the failure lasts (and it may: a full disk, a corrupt page).
        reason = refusal(error) or f"commit failed: {type(error).__name__}: {error}"
        self._stall_on(group, reason)

    def commit_now(self) -> BaseException | None:
        """Commit the open group here and now; perform its effects, or void it."""
        group, error = self._committer.commit_now()
        if error is None:
            self._complete(group)
            return None
        self._void(group, error)
        return error

    def _complete(self, group: list[Entry]) -> None:
        """``group`` is durable: perform its effects, answer its callers, count it."""
        staged = self._ledger.staged_keys
        tally = Tally()
        opened = 0
        settles = False
        for event, decision in group:
            for effect in decision.effects:  # dispatches first: on the hop's critical path
                try:
                    self._perform(effect)
                except Exception:  # one failed effect must not cost the others
                    log.exception("orchestrator: an effect after the commit failed")
            reply = getattr(event, "reply", None)
            if reply is not None:
                reply.set(decision.reply)
            if decision.key is not None:
                staged.pop(decision.key, None)
            tally.add(decision)
            opened += decision.escalations
            settles = settles or decision.settles
        self._metrics.apply(tally)
        if opened:
            self._metrics.escalations_open.inc(opened)
        if settles:
            self._waiters.notify()
        self._check_drained()

    def _perform(self, effect: Effect) -> None:
        # isinstance, not ``match``: a class pattern costs several lookups, once per effect.
        if isinstance(effect, Start):
            self._router.started(effect.live)
        elif isinstance(effect, Queue):
            self._router.dispatch_later(effect.live, effect.delay)
        elif isinstance(effect, Withdraw):
            self._router.withdraw(effect.live)
        elif isinstance(effect, Later):
            event, ref = effect.event, self.actor_ref
            self._timers.call_later(effect.delay, lambda: ref.tell(event))
        else:
            supervisor = self.supervisor
            if supervisor is not None:
                supervisor.tell(effect.event)

    def _void(self, group: list[Entry], error: BaseException) -> None:
        """``group`` will not be committed: its callers get ``error``, its decisions are void."""
        for event, decision in group:
            reply = getattr(event, "reply", None)
            if reply is not None:
                reply.set_exception(exc_info=(type(error), error, None))
            self._decider.void(decision)
        self._ledger.staged_keys = {}

    # ----------------------------------------------------------------- closing

    def _check_drained(self) -> None:
        drain = self._drain
        if drain is None or self._router.dispatcher.inflight_total():
            return
        if self._committer.open:
            self._flush()  # what was decided must reach the store before close
            if self._drain is not drain:
                return  # committed inline, and that commit's own check set the drain
        if self._committer.committing is None and not self._committer.open:
            self._drain = None
            self._router.draining = False
            idle = self._decider.release_idle(time.time())  # none is on an agent: drained
            if idle is not None:
                error = commit(self._store, [idle.batch])
                if error is not None:
                    log.warning("orchestrator: tasks stay running at close (%s)", error)
            drain.set(None)

    # ----------------------------------------------------------------- a store refusing writes

    def _stall_on(self, group: list[Entry], reason: str) -> None:
        """``group`` did not commit because the store refuses writes: void it and the open
        group (callers get ``StoreUnavailable``), hold their events to decide them again,
        reload memory (agents keep what they hold), and stop dispatching."""
        entries = [*group, *self._committer.take_open()]
        self._void(entries, StoreUnavailable(reason))
        events = [e for e, _ in entries if e is not None and getattr(e, "reply", None) is None]
        self._stall.begin(reason, events, sum(d.batch.nbytes() for _, d in group))
        self.reload_holding(events)
        if self._drain is not None:  # closing: nothing more can be stored
            self._drain.set(None)
            self._drain = None
            self._router.draining = False
            return
        self.retry_later(self._stall.backoff())

    def reload_holding(self, events: list[Any]) -> None:
        """Reload memory from the store; the agents whose results are among ``events``
        still count as holding those tasks, so the results are awaited, not the tasks
        dispatched again."""
        for event in events:
            if isinstance(event, TaskDone | TaskFailed):
                self._router.hold(event.actor, (event.task_id, event.attempt))
        self._recover(soft=True)

    def retry_later(self, delay: float) -> None:
        ref = self.actor_ref
        self._timers.call_later(delay, lambda: ref.tell(_RetryStore()))

    def _retry_store(self) -> None:
        """Decide the held events again, once the store has room (see ``Stall.retry``)."""
        if self._drain is None:
            self._stall.retry_when_room(self._store, self)

    # The shell's side of ``Stall.retry_held``.

    def decide_again(self, event: Any) -> None:
        self._receive(event)

    def isolate(self, event: Any, error: BaseException) -> None:
        log.error("orchestrator: a decision cannot be stored, isolated: %s", error)
        isolated = self._decider.fail(event, error, time.time())
        if isolated is not None:
            self._add(None, isolated)
            self.commit_now()

    def resume(self) -> None:
        self._router.pump_all()

    # ----------------------------------------------------------------- queries

    def statistics(self) -> OrchestratorStatistics:
        """Live counts (call through a proxy): runs, tasks, waiting, in flight."""
        dispatcher = self._router.dispatcher
        return OrchestratorStatistics(
            active_runs=len(self._ledger.runs),
            live_tasks=len(self._ledger.tasks),
            inflight=dispatcher.inflight_total(),
            waiting={r: len(dispatcher.waiting(r)) for r in dispatcher.roles()},
            roles_down=sorted(dispatcher.down),
            processed=self.processed,
            stale=self._decider.stale,
            degraded=self._stall.reason,
        )
