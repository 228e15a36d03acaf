"""One simulated world: the real decider, with simulated agents, clock, store, crashes and
people, all drawn from one seed, on one thread.

Each step does one thing: commit the open decisions (or fail to: a full store), crash the
process (memory, agents and uncommitted decisions are lost; the store is not) and recover,
or deliver the next timed event (an agent's answer, a lease or queue timer, a retry's
backoff, a submission, a person's resolution, a role going down or up). After every step the
invariants are checked (:mod:`handoffs.simulation.invariants`). What the shell does (which
agent holds what, the waiting queues, effects after the commit) is mimicked here in a few
lines; the decisions are the decider's own.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from handoffs.actors.decider import Decider
from handoffs.actors.decision import (
    Decision,
    Effect,
    Health,
    Later,
    LiveTask,
    Queue,
    Start,
    Withdraw,
)
from handoffs.actors.events import (
    Cancel,
    LeaseExpired,
    QueueExpired,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.pipelines import Pipelines
from handoffs.messages import ResolutionAction
from handoffs.messages.errors import HandoffsError
from handoffs.simulation.agents import Outputs, Profile
from handoffs.simulation.invariants import Invariants
from handoffs.simulation.store import SimStore

__all__ = ["Violation", "World"]

#: Where the simulated clock starts (a wall-clock time, as the decider expects).
EPOCH = 1_700_000_000.0


class Violation(Exception):
    """An invariant did not hold."""


class _Reply:
    """Stands in for a caller's future: the event carries it, the world sets it."""

    def __init__(self, on_set: Callable[[Any], None] | None = None) -> None:
        self.on_set = on_set

    def set(self, value: Any) -> None:
        if self.on_set is not None:
            self.on_set(value)


class World:
    """The decider in a simulated process. ``run()`` raises :class:`Violation`."""

    def __init__(
        self,
        pipelines: Pipelines,
        outputs: Outputs,
        seed: int,
        *,
        runs: int,
        steps: int,
        profile: Profile,
        invariants: Invariants,
        trace: bool = False,
    ) -> None:
        self._invariants = invariants
        self.pipelines = pipelines
        self.outputs = outputs
        self.rng = random.Random(seed)
        self.profile = profile
        self.runs_to_submit = runs
        self.steps = steps
        self.now = EPOCH
        self.store = SimStore()
        self.step = 0
        self.tracing = trace
        self.trace: deque[str] = deque(maxlen=60)
        self.acked_runs: set[str] = set()
        self._ids = 0
        roles = pipelines.config.roles
        self.rooms = {role: min(spec.concurrency, 3) for role, spec in roles.items()}
        self.calls = 0
        self.crashes = 0
        self.full = 0
        self._boot()
        self._timers: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        for i in range(runs):
            self._at(self.rng.uniform(0, runs * 0.5), "submit", i)

    # ----------------------------------------------------------------- the process

    def _boot(self) -> None:
        """A fresh process: empty memory and agents; the store is what it is."""
        self.decider = Decider(self.pipelines, self.store, self, ids=self._id)
        self.open: list[tuple[Any, Decision]] = []
        self.held: dict[tuple[str, int], str] = {}
        self.busy = dict.fromkeys(self.rooms, 0)
        self.marking = dict.fromkeys(self.rooms, 0)
        self.waiting: dict[str, deque[str]] = {role: deque() for role in self.rooms}
        self.down: set[str] = set()
        #: Answers decided but voided by a failed commit, to decide again.
        self.refeed: deque[Any] = deque()
        self.queued: set[tuple[str, int]] = set()
        #: Tasks written running in decisions not committed yet.
        self.starting: set[tuple[str, int]] = set()

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:024x}"

    def reserve(self, role: str) -> bool:
        if role in self.down or self.busy[role] + self.marking[role] >= self.rooms[role]:
            return False
        self.marking[role] += 1
        return True

    def release(self, role: str) -> None:
        self.marking[role] = max(0, self.marking[role] - 1)

    # ----------------------------------------------------------------- timers

    def _at(self, delay: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), self._seq, kind, payload))

    def _note(self, text: str) -> None:
        if self.tracing:
            self.trace.append(f"step {self.step} t=+{self.now - EPOCH:.3f}s {text}")

    # ----------------------------------------------------------------- steps

    def run(self) -> None:
        """Step until ``steps`` are done and nothing is left to happen (or the quiet phase
        runs out), checking the invariants after every step; then every run must have
        ended."""
        limit = self.steps + 200 * max(self.runs_to_submit, 1) * max(len(self.rooms), 1)
        while self.step < limit:
            self.step += 1
            if not self._one_step():
                break
            self._invariants.after_step(self)
        self._invariants.at_end(self)

    def timers(self) -> list[tuple[float, int, str, Any]]:
        return self._timers

    @property
    def faulty(self) -> bool:
        return self.step <= self.steps

    def _one_step(self) -> bool:
        rng = self.rng
        p = self.profile
        if self.faulty and rng.random() < p.crash:
            self._crash()
            return True
        if self.open and (rng.random() < 0.6 or not self._timers):
            self._commit()
            return True
        if self.refeed:
            event = self.refeed.popleft()
            if isinstance(event, TaskDone | TaskFailed):
                self.held.pop((event.task_id, event.attempt), None)  # awaited: now decided
            self._decide(event)
            return True
        if not self._timers:
            return False
        when, _, kind, payload = heapq.heappop(self._timers)
        self.now = max(self.now, when)
        self._fire(kind, payload)
        return True

    def _fire(self, kind: str, payload: Any) -> None:
        match kind:
            case "submit":
                self._submit(payload)
            case "answer":
                self._answer(*payload)
            case "lease":
                key = payload
                if key in self.held:  # still on its agent: the agent drops it
                    self._free(key)
                    self._note(f"lease expired {key}")
                    self._decide(LeaseExpired(key[0], key[1], "sim/agent"))
            case "queue":
                live = self.decider.ledger.tasks.get(payload[0])
                current = live is not None and live.record.attempt == payload[1]
                if current and payload not in self.held:
                    self._note(f"queue timeout {payload}")
                    self._decide(QueueExpired(*payload))
            case "redispatch":
                live = self.decider.ledger.tasks.get(payload[0])
                if live is not None and live.record.attempt == payload[1]:
                    self._dispatch(live)
            case "person":
                self._person(payload)
            case "event":
                self._decide(payload)
            case "cancel":
                run = next(
                    (
                        r
                        for r in self.decider.ledger.runs.values()
                        if r.idempotency_key == f"sim-{payload}"
                    ),
                    None,
                )
                if run is not None:
                    self._note(f"caller cancels {run.run_id}")
                    reply: Any = _Reply()
                    self._decide(Cancel(run.run_id, "simulated cancel", reply))
            case "down":
                self._note(f"role {payload} down")
                self.down.add(payload)
                self.waiting[payload].clear()
                self._decide(RoleDown(payload, "simulated"))
                self._at(self.rng.uniform(5, 60), "up", payload)
            case "up":
                self._note(f"role {payload} up")
                self.down.discard(payload)
                self._decide(RoleUp(payload))

    def _submit(self, i: int) -> None:
        pipeline = self.rng.choice(sorted(self.pipelines.pipelines))
        key = f"sim-{i}"

        def acked(reply: Any) -> None:
            self.acked_runs.add(reply[0])
            self._note(f"submitted {reply[0]} ({pipeline})")

        reply: Any = _Reply(acked)
        self._decide(Submit(pipeline, {"topic": f"t{i}", "n": i}, key, "d", reply))
        if self.faulty and self.rng.random() < self.profile.role_down:
            self._at(self.rng.uniform(0, 5), "down", self.rng.choice(sorted(self.rooms)))
        if self.faulty and self.rng.random() < self.profile.cancel:
            self._at(self.rng.uniform(0, 20), "cancel", i)

    def _person(self, escalation_id: str) -> None:
        escalation = self.decider.ledger.escalations.get(escalation_id)
        if escalation is None:
            return
        rng = self.rng
        draw = rng.random()
        # While faults happen a person also revises and cancels; afterwards mostly approves.
        action: ResolutionAction = "approve"
        if draw >= 0.55 and (self.faulty or rng.random() < 0.3):
            action = "revise" if draw < 0.8 else "cancel"
        text = "please fix the intro" if action == "revise" else None
        self._note(f"person {action}s {escalation_id} ({escalation.reason})")
        reply: Any = _Reply()
        self._decide(Resolve(escalation_id, action, text, reply))

    # ----------------------------------------------------------------- deciding

    def _decide(self, event: Any) -> None:
        try:
            decision = self.decider.decide(event, self.now)
        except Exception as exc:
            if isinstance(exc, HandoffsError) and getattr(event, "reply", None) is not None:
                self._note(f"{type(event).__name__} refused: {exc}")
                return
            raise Violation(f"deciding {type(event).__name__} raised {exc!r}") from exc
        self._add(event, decision)

    def _add(self, event: Any, decision: Decision) -> None:
        for effect in decision.effects:
            if type(effect) is Start:
                self.starting.add((effect.live.record.task_id, effect.live.record.attempt))
        self.open.append((event, decision))

    def _commit(self) -> None:
        group, self.open = self.open, []
        if self.faulty and self.rng.random() < self.profile.store_full:
            self.full += 1
            self._note(f"commit of {len(group)} decisions failed: store full")
            for event, decision in group:
                self.decider.void(decision)
                if getattr(event, "reply", None) is None and event is not None:
                    if isinstance(event, TaskDone | TaskFailed):
                        self.held[(event.task_id, event.attempt)] = "awaited"
                    self.refeed.append(event)
            self._reload(soft=True)
            return
        self.store.commit(d.batch for _, d in group)
        self._note(f"committed {len(group)} decisions")
        for event, decision in group:
            for effect in decision.effects:
                self._perform(effect)
            reply = getattr(event, "reply", None)
            if reply is not None:
                reply.set(decision.reply)
            if decision.key is not None:
                self.decider.ledger.staged_keys.pop(decision.key, None)
            for e in decision.batch.escalations:
                if e[0].state == "open":
                    self._at(self.rng.uniform(1, 30), "person", e[0].id)
        self._invariants.committed(self, group)

    def _perform(self, effect: Effect) -> None:
        match effect:
            case Start(live):
                self.release(live.record.role)
                self.starting.discard((live.record.task_id, live.record.attempt))
                self._dispatch(live)
            case Queue(live, delay):
                rec = live.record
                if delay > 0:
                    self._at(delay, "redispatch", (rec.task_id, rec.attempt))
                else:
                    self._dispatch(live)
            case Withdraw(live):
                key = (live.record.task_id, live.record.attempt)
                if key in self.held:
                    self._free(key)
            case Later(event, delay):
                self._at(delay, "event", event)
            case Health():
                pass

    # ----------------------------------------------------------------- agents

    def _dispatch(self, live: LiveTask) -> None:
        rec = live.record
        key = (rec.task_id, rec.attempt)
        if rec.task_id not in self.decider.ledger.tasks or key in self.held:
            return
        if key in self.starting:
            return  # its write as running is not committed yet: no agent before that
        stage = self.pipelines.stage(rec.pipeline, rec.stage).spec
        if key not in self.queued:
            self.queued.add(key)
            if stage.queue_timeout is not None:
                self._at(stage.queue_timeout, "queue", key)
        if rec.state != "running":
            if self.reserve(rec.role):
                self._add(None, self.decider.start(live, self.now))
            else:
                self.waiting[rec.role].append(rec.task_id)
            return
        if rec.role in self.down or self.busy[rec.role] >= self.rooms[rec.role]:
            self.waiting[rec.role].append(rec.task_id)
            return
        self.busy[rec.role] += 1
        self.held[key] = rec.role
        self.calls += 1
        self._start_agent(live, stage.timeout)

    def _start_agent(self, live: LiveTask, timeout: float | None) -> None:
        rec = live.record
        key = (rec.task_id, rec.attempt)
        rng = self.rng
        p = self.profile if self.faulty else self.profile.quiet()
        seconds = rng.uniform(0.05, 2.0)
        if timeout is not None:
            self._at(timeout, "lease", key)
            draw = rng.random()
            if draw < p.hang:
                self._note(f"agent hangs on {key}")
                return
            if draw < p.hang + p.slow:
                seconds = timeout * 1.5  # answers after its lease: a stale answer
        self._at(seconds, "answer", (key, seconds))

    def _free(self, key: tuple[str, int]) -> None:
        role = self.held[key]
        if role != "awaited":
            self.busy[role] -= 1
            # As the shell does: room for a waiting task, while ``key`` still counts as held
            # (a queue may still name it: it must not go to a second agent).
            self._pump(role)
        del self.held[key]

    def _pump(self, role: str) -> None:
        queue = self.waiting[role]
        tasks = self.decider.ledger.tasks
        while queue and role not in self.down:
            live = tasks.get(queue[0])
            if live is None or self._taken(live):
                queue.popleft()
                continue
            if live.record.state != "running":
                if not self.reserve(role):
                    return
                queue.popleft()
                self._add(None, self.decider.start(live, self.now))
                continue
            if self.busy[role] >= self.rooms[role]:
                return
            queue.popleft()
            self._dispatch(live)

    def _taken(self, live: LiveTask) -> bool:
        """Whether an agent has ``live`` or it is being written running."""
        key = (live.record.task_id, live.record.attempt)
        return key in self.held or key in self.starting

    def _answer(self, key: tuple[str, int], seconds: float) -> None:
        if key not in self.held:
            return  # withdrawn, or its process crashed
        self._free(key)
        live = self.decider.ledger.tasks.get(key[0])
        if live is None:
            self._decide(TaskFailed(key[0], key[1], "sim/agent", "late", seconds))
            return
        rec = live.record
        stage = self.pipelines.stage(rec.pipeline, rec.stage)
        profile = self.profile if self.faulty else self.profile.quiet()
        event, said = self.outputs.answer(stage, key, seconds, profile, self.rng)
        self._note(f"agent {said} on {key}")
        self._decide(event)

    # ----------------------------------------------------------------- crashes

    def _crash(self) -> None:
        """kill -9: memory, agents, timers of the process and open decisions are gone."""
        self.crashes += 1
        self._note(f"CRASH ({len(self.open)} decisions not committed are lost)")
        self._timers = [t for t in self._timers if t[2] in ("submit", "person", "up")]
        heapq.heapify(self._timers)
        self._boot()  # a new process starts every role's actors: no role is down
        self._reload(soft=False)

    def _reload(self, *, soft: bool) -> None:
        """Memory from the store, then every pending task dispatched again (one that an
        agent still holds, after a soft reload, stays with it)."""
        store = self.store
        self.marking = dict.fromkeys(self.rooms, 0)
        self.starting = set()
        for queue in self.waiting.values():
            queue.clear()
        self.decider.load(store.active_runs(), store.open_escalations(), store.pending_tasks())
        pending = list(self.decider.ledger.tasks.values())
        if not soft:
            waiting = [t for t in pending if t.record.state != "running"]
            cut = self.decider.cut_short(self.now)
            if cut is not None:
                pending = waiting
                self._add(None, cut)
                self._commit_recovery()
        for live in pending:
            key = (live.record.task_id, live.record.attempt)
            if key in self.held:
                continue
            not_before = live.record.not_before
            delay = 0.0 if not_before is None else not_before - self.now
            if delay > 0:
                self._at(delay, "redispatch", key)
            else:
                self._dispatch(live)
        for escalation in store.open_escalations():
            self._at(self.rng.uniform(1, 30), "person", escalation.id)
        for timer in self.decider.timers(self.now):
            self._perform(timer)

    def _commit_recovery(self) -> None:
        group, self.open = self.open, []
        self.store.commit(d.batch for _, d in group)
        for _, decision in group:
            for effect in decision.effects:
                self._perform(effect)
        self._invariants.committed(self, group)
