"""The supervisor: starts agent actors, restarts the ones that die, and keeps the runtime's
health (restarts, revisions, escalations, failures, stale results) with their metrics.

OTP's vocabulary: a child spec per role, restart ``permanent`` (always), ``transient`` (only
after an abnormal exit) or ``temporary`` (never), strategy ``one_for_one``; at most
``max_restarts`` restarts in ``period`` seconds, then the role is marked down and the
orchestrator escalates the runs waiting on it. A role left with no live actor and none to be
restarted (its last ``temporary`` actor exited, its last ``transient`` one exited normally) is
down the same way, whatever its policy: nothing would ever run its tasks. Children start in
order, stop in reverse, all within one shutdown deadline.

Runs in the supervisor's own thread; restart delays run on the shared timer thread.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, deque
from typing import Any

import msgspec
import pykka
from handoffs.actors.agent import AgentActor, AgentFactory
from handoffs.actors.async_agent import AsyncAgentActor
from handoffs.actors.errors import RoleNotFound
from handoffs.actors.inbox import ThreadActor
from handoffs.actors.knowledge import Knowledge
from handoffs.actors.metrics import RuntimeMetrics
from handoffs.actors.protocol import (
    ActorExited,
    ActorStarted,
    HealthEvent,
    RoleDown,
    RoleUp,
)
from handoffs.actors.ray_agent import RayAgentActor
from handoffs.actors.timers import Timers
from handoffs.actors.work import AgentContext, Seat
from handoffs.messages import RaySpec, RestartPolicy

__all__ = [
    "ChildSpec",
    "RoleHealth",
    "Supervisor",
    "SupervisorStatistics",
]

log = logging.getLogger("handoffs.supervisor")

#: How many runs' revision counts the supervisor remembers (the most revised win).
_TRACKED_RUNS = 10_000
#: How long past a stop deadline a caller waits for the supervisor's own answer.
_ANSWER_ALLOWANCE = 1.0


class ChildSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How to start and restart the actors of one role.

    A sync role (``run_async`` false) is ``concurrency`` actors, a thread each; an async role
    is one actor, an event loop running ``concurrency`` tasks at once. With ``ray`` set, each
    of those actors stands for a Ray actor running the agent (``ray_agent``).
    """

    role: str
    factory: AgentFactory
    concurrency: int = 1
    run_async: bool = False
    restart: RestartPolicy = "permanent"
    max_restarts: int = 5
    period: float = 10.0
    backoff: float = 0.01
    ray: RaySpec | None = None


class RoleHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One role as the supervisor sees it."""

    role: str
    up: bool
    actors: int
    restarts: int
    failures: int
    last_exit: str | None = None
    down_reason: str | None = None


class SupervisorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The health keeper's view: roles, counts, and the runs bouncing most."""

    roles: list[RoleHealth]
    revisions: int
    escalations: dict[str, int]
    failures: int
    stale_results: int
    top_runs: list[tuple[str, int]]


class _StartChildren(msgspec.Struct, frozen=True):
    orchestrator: pykka.ActorRef[Any]


class _Restart(msgspec.Struct, frozen=True):
    role: str
    index: int


class _RestartRole(msgspec.Struct, frozen=True):
    role: str
    reply: pykka.Future[Any] | None = None


class _StopChildren(msgspec.Struct, frozen=True):
    deadline: float


class _Statistics(msgspec.Struct, frozen=True):
    top: int


class _Role:
    __slots__ = (
        "children",
        "down_reason",
        "exits",
        "failures",
        "generation",
        "last_exit",
        "pending",
        "restarts",
        "spec",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.children: dict[int, tuple[pykka.ActorRef[Any], str]] = {}
        self.exits: deque[float] = deque()
        #: Indexes whose restart is scheduled (on the timer thread), not started yet.
        self.pending: set[int] = set()
        self.generation = 0
        self.restarts = 0
        self.failures = 0
        self.last_exit: str | None = None
        self.down_reason: str | None = None


class Supervisor(ThreadActor):
    """Supervises one pool of agent actors per role (``one_for_one``)."""

    def __init__(
        self,
        specs: list[ChildSpec],
        metrics: RuntimeMetrics,
        timers: Timers,
        *,
        seed: int | None = None,
        knowledge: Knowledge | None = None,
        prefetch: int = 4,
    ) -> None:
        super().__init__()
        self._roles = {spec.role: _Role(spec) for spec in specs}
        self._order = [spec.role for spec in specs]
        self._metrics = metrics
        self._timers = timers
        self._random = random.Random(seed)
        self._knowledge = knowledge
        self._prefetch = prefetch
        self._orchestrator: pykka.ActorRef[Any] | None = None
        self._stopping = False
        self._revisions: Counter[str] = Counter()
        self._revisions_total = 0
        self._escalations: Counter[str] = Counter()
        self._failures = 0
        self._stale = 0

    # ----------------------------------------------------------------- public calls (ask)

    @staticmethod
    def start_children(ref: pykka.ActorRef[Any], orchestrator: pykka.ActorRef[Any]) -> None:
        """Start every role's actors, in config order; returns once they are started."""
        ref.ask(_StartChildren(orchestrator))

    @staticmethod
    def stop_children(ref: pykka.ActorRef[Any], deadline: float) -> None:
        """Stop every actor, roles in reverse order, waiting for them until ``deadline`` (a
        ``time.monotonic()`` instant) in all: a hung agent's actor is left behind.

        Raises:
            pykka.Timeout: the supervisor itself did not answer shortly after ``deadline``.
        """
        remaining = max(0.0, deadline - time.monotonic())
        ref.ask(_StopChildren(deadline), timeout=remaining + _ANSWER_ALLOWANCE)

    @staticmethod
    def restart_role(ref: pykka.ActorRef[Any], role: str, timeout: float | None = 30.0) -> None:
        """A person brings a role marked down back: fresh actors, restart history cleared.

        Returns once the runs escalated for the role are resumed.
        """
        resumed: pykka.Future[Any] = pykka.ThreadingFuture()
        ref.ask(_RestartRole(role, resumed))
        resumed.get(timeout=timeout)

    @staticmethod
    def statistics_of(ref: pykka.ActorRef[Any], top: int = 10) -> SupervisorStatistics:
        """The supervisor's statistics; also a barrier behind every event told before it."""
        result = ref.ask(_Statistics(top))
        assert isinstance(result, SupervisorStatistics)
        return result

    # ----------------------------------------------------------------- mailbox

    def on_receive(self, message: Any) -> Any:
        """Handle one message. Runs in the supervisor's thread."""
        match message:
            case HealthEvent():
                self._on_health(message)
            case ActorExited():
                self._on_exit(message)
            case _Restart(role, index):
                self._restart(role, index)
            case _StartChildren(orchestrator):
                self._orchestrator = orchestrator
                for role in self._order:
                    state = self._roles[role]
                    self._metrics.role_up.labels(role).set(1)
                    for index in range(_actors(state.spec)):
                        self._start(state, index)
            case _RestartRole(role, reply):
                self._bring_back(role, reply)
            case _StopChildren(deadline):
                self._stop_all(deadline)
            case _Statistics(top):
                return self._statistics(top)
            case _:
                log.warning("supervisor: unexpected message %r", message)
        return None

    def _start(self, state: _Role, index: int) -> None:
        orchestrator = self._orchestrator
        assert orchestrator is not None
        state.generation += 1
        spec = state.spec
        context = AgentContext(
            timers=self._timers,
            knowledge=self._knowledge,
            queue_times=self._metrics.task_queue.shard(spec.role),
        )
        seat = Seat(spec.role, index, state.generation, orchestrator, self.actor_ref, context)
        if spec.ray is not None:
            handle = RayAgentActor.launch(
                seat,
                spec.factory,
                spec.ray,
                run_async=spec.run_async,
                concurrency=spec.concurrency,
                prefetch=self._prefetch,
            )
        elif spec.run_async:
            handle = AsyncAgentActor.launch(seat, spec.factory, concurrency=spec.concurrency)
        else:
            handle = AgentActor.launch(seat, spec.factory, prefetch=self._prefetch)
        state.children[index] = (handle.ref, seat.name)
        orchestrator.tell(ActorStarted(spec.role, index, handle, seat.name))

    def _on_exit(self, msg: ActorExited) -> None:
        state = self._roles.get(msg.role)
        if state is None or self._stopping:
            return
        current = state.children.get(msg.index)
        if current is None or current[1] != msg.actor:
            return
        del state.children[msg.index]
        state.last_exit = f"{msg.actor}: {msg.reason}"
        if state.down_reason is not None:
            return
        policy = state.spec.restart
        if policy == "temporary" or (policy == "transient" and not msg.abnormal):
            if not state.children and not state.pending:
                # Nothing would ever run the role's tasks again: down, not a silent stall.
                why = "temporary" if policy == "temporary" else "transient, normal exit"
                self._mark_down(
                    state,
                    f"no live actors: the last exited ({why}: not restarted): {state.last_exit}",
                )
            return
        now = time.monotonic()
        while state.exits and now - state.exits[0] > state.spec.period:
            state.exits.popleft()
        if len(state.exits) >= state.spec.max_restarts:
            self._mark_down(
                state,
                f"{len(state.exits) + 1} exits within {state.spec.period:g}s exceed "
                f"max_restarts={state.spec.max_restarts}; last: {msg.reason}",
            )
            return
        state.exits.append(now)
        # Exponential in the restarts within the period, capped: a crash loop slows down
        # but a recovered role never waits long.
        delay = min(state.spec.backoff * 2 ** min(len(state.exits) - 1, 16), 1.0)
        delay += self._random.uniform(0, state.spec.backoff)  # jitter: no restart stampede
        restart = _Restart(msg.role, msg.index)
        state.pending.add(msg.index)
        me = self.actor_ref
        self._timers.call_later(delay, lambda: me.tell(restart))

    def _mark_down(self, state: _Role, reason: str) -> None:
        """Stop the role's remaining actors and tell the orchestrator, which escalates the
        runs waiting on it (``role_down``) until a person restarts it."""
        role = state.spec.role
        state.down_reason = reason
        self._metrics.role_up.labels(role).set(0)
        log.error("supervisor: role %s is down: %s", role, reason)
        for ref, _ in state.children.values():
            ref.stop(block=False)
        state.children.clear()
        if self._orchestrator is not None:
            self._orchestrator.tell(RoleDown(role, reason))

    def _restart(self, role: str, index: int) -> None:
        state = self._roles[role]
        state.pending.discard(index)
        if self._stopping or state.down_reason is not None or index in state.children:
            return
        state.restarts += 1
        self._metrics.agent_restarts.labels(role).inc()
        log.info("supervisor: restarting %s/%d", role, index)
        self._start(state, index)

    def _bring_back(self, role: str, reply: pykka.Future[Any] | None) -> None:
        state = self._roles.get(role)
        if state is None:
            raise RoleNotFound(f"unknown role {role!r}")
        state.down_reason = None
        state.exits.clear()
        self._metrics.role_up.labels(role).set(1)
        for index in range(_actors(state.spec)):
            if index not in state.children:
                self._start(state, index)
        if self._orchestrator is not None:
            self._orchestrator.tell(RoleUp(role, reply))

    def _stop_all(self, deadline: float) -> None:
        """Stop every role's actors in reverse start order, waiting for them until
        ``deadline`` in all (not per role): past it, the rest are told to stop and left."""
        self._stopping = True
        for role in reversed(self._order):
            state = self._roles[role]
            futures = [ref.stop(block=False) for ref, _ in reversed(state.children.values())]
            stuck = 0
            for future in futures:
                try:
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
                except pykka.Timeout:
                    stuck += 1
            if stuck:
                log.warning(
                    "supervisor: %d actor(s) of %s not stopped by the shutdown deadline "
                    "(hung agent?)",
                    stuck,
                    role,
                )
            state.children.clear()

    def _on_health(self, event: HealthEvent) -> None:
        metrics = self._metrics
        if event.kind == "revision":
            metrics.revisions.labels(event.pipeline, event.stage).inc()
            self._revisions_total += 1
            if event.run_id:
                self._revisions[event.run_id] += 1
                if len(self._revisions) > _TRACKED_RUNS:
                    self._revisions = Counter(dict(self._revisions.most_common(_TRACKED_RUNS // 2)))
        elif event.kind == "escalation":
            metrics.escalations.labels(event.pipeline, event.reason).inc()
            self._escalations[event.reason] += 1
        elif event.kind == "failure":
            metrics.task_failures.labels(event.role).inc()
            self._failures += 1
            state = self._roles.get(event.role)
            if state is not None:
                state.failures += 1
        elif event.kind == "stale":
            metrics.stale_results.inc()
            self._stale += 1

    def _statistics(self, top: int) -> SupervisorStatistics:
        roles = [
            RoleHealth(
                role=role,
                up=state.down_reason is None,
                actors=len(state.children),
                restarts=state.restarts,
                failures=state.failures,
                last_exit=state.last_exit,
                down_reason=state.down_reason,
            )
            for role, state in ((r, self._roles[r]) for r in self._order)
        ]
        return SupervisorStatistics(
            roles=roles,
            revisions=self._revisions_total,
            escalations=dict(self._escalations),
            failures=self._failures,
            stale_results=self._stale,
            top_runs=self._revisions.most_common(top),
        )


def _actors(spec: ChildSpec) -> int:
    """How many actors the role runs: one event loop, or a thread per unit of concurrency."""
    return 1 if spec.run_async else spec.concurrency
