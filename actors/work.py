"""What every agent actor does around the user's code: start the lease, measure queue time,
validate the output, report the result. Shared by the sync and the async agent actor.

Runs on the agent's side (its thread, or its event loop's thread), never the orchestrator's.
"""

from __future__ import annotations

import bisect
import inspect
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka
from handoffs.actors.checks import ValidOutput, validate_output
from handoffs.actors.knowledge import Knowledge
from handoffs.actors.metrics import OwnedSeries
from handoffs.actors.protocol import ActorExited, LeaseExpired, Perform, TaskDone, TaskFailed
from handoffs.actors.signals import OutputInvalid, Unrecoverable
from handoffs.actors.timers import Timers
from handoffs.actors.tracehooks import CURRENT_TASK, HOOKS
from handoffs.messages import Feedback, Result, Task

__all__ = [
    "AgentCall",
    "AgentContext",
    "Seat",
    "TaskReporter",
    "end_detached",
    "invalid_feedback",
    "judge_output",
    "make_call",
    "wants_knowledge",
]

_monotonic = time.monotonic
_bisect_left = bisect.bisect_left

#: The agent bound to what it is called with: ``call(task) -> output`` (or an awaitable).
AgentCall = Callable[[Task], Any]


class AgentContext(msgspec.Struct, frozen=True):
    """What the runtime lends an agent actor: the timers (leases), the read-only knowledge
    base, and its own shard of its role's queue-time histogram."""

    timers: Timers | None = None
    knowledge: Knowledge | None = None
    queue_times: OwnedSeries | None = None


def make_call(agent: Any, knowledge: Knowledge | None) -> AgentCall:
    """``agent`` as a one-argument call: one that takes ``(task, kb)`` gets the read-only
    knowledge base as its second argument."""
    if wants_knowledge(agent):
        return lambda task: agent(task, knowledge)
    call: AgentCall = agent
    return call


def wants_knowledge(agent: Any) -> bool:
    """Whether ``agent`` takes the knowledge base: two or more required positional arguments."""
    try:
        params = inspect.signature(agent).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: one argument
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2


class Seat:
    """Who an agent actor is and whom it tells: its role, index and name, the reporter of
    its tasks, and its exit (told once, to the orchestrator and the supervisor)."""

    def __init__(
        self,
        role: str,
        index: int,
        generation: int,
        orchestrator: pykka.ActorRef[Any],
        supervisor: pykka.ActorRef[Any] | None,
        context: AgentContext | None,
    ) -> None:
        self.role = role
        self.index = index
        self.name = f"{role}/{index}.{generation}"
        self.context = context or AgentContext()
        self.reporter = TaskReporter(self.name, orchestrator, self.context)
        self._supervisor = supervisor
        self._exit_reported = False

    def report_exit(self, *, abnormal: bool, reason: str) -> None:
        """The actor stops (``abnormal``: it died): tell the orchestrator, which sends what
        it held elsewhere, and the supervisor, which restarts it. Only the first call counts."""
        if self._exit_reported:
            return
        self._exit_reported = True
        message = ActorExited(self.role, self.index, self.name, abnormal, reason)
        self.reporter.tell(message)
        if self._supervisor is not None:
            try:  # noqa: SIM105
                self._supervisor.tell(message)
            except pykka.ActorDeadError:
                pass


def judge_output(message: Perform, output: Any) -> tuple[ValidOutput | Feedback, list[str]]:
    """``output`` (a contract instance, or a ``Result`` around one) checked against
    ``message``'s contract, with the agent's tags. Wherever the agent runs (here, or on a
    Ray worker), this is where its output is validated."""
    quality = None
    tags: list[str] = []
    if isinstance(output, Result):
        quality, tags, output = output.quality, list(output.tags), output.output
    checked = validate_output(
        output, message.contract, message.contract_name, quality, message.max_bytes
    )
    return checked, tags


def invalid_feedback(message: Perform, exc: OutputInvalid) -> Feedback:
    """The validator feedback for an agent that raised ``OutputInvalid``."""
    return Feedback(
        source="validator",
        aspect=(exc.field or "output")[:200],
        issue=f"{message.contract_name} is invalid: {exc}"[:20_000],
        suggestion="fix the named field",
        severity="blocker",
    )


def _ended(outcome: str, error: str | None) -> None:
    """The attempt begun last in this thread or coroutine ended: its span ends."""
    CURRENT_TASK.set(None)
    tracer = HOOKS.attempts
    if tracer is not None:
        tracer.end(outcome, error)


def end_detached(span: Any, outcome: str, error: str | None = None) -> None:
    """End an attempt :meth:`TaskReporter.begin_detached` began (nothing with tracing off)."""
    tracer = HOOKS.attempts
    if span is not None and tracer is not None:
        tracer.close(span, outcome, error)


class TaskReporter:
    """Begins tasks (lease, queue time) and tells the orchestrator how they went."""

    __slots__ = ("_bounds", "_counts", "_orchestrator", "_timers", "name")

    def __init__(self, name: str, orchestrator: pykka.ActorRef[Any], context: AgentContext):
        self.name = name
        self._orchestrator = orchestrator
        self._timers = context.timers
        series = context.queue_times
        self._counts = None if series is None else series.counts
        self._bounds = () if series is None else series.bounds

    def begin(self, message: Perform) -> Task:
        """The agent starts ``message``'s task now: its lease starts, its wait ends."""
        task = message.task
        tracer = HOOKS.attempts
        if tracer is not None:
            task = tracer.begin(task, self.name)
        CURRENT_TASK.set(task)  # log lines written while the agent works name the run
        return self._lease(message, task)

    def begin_detached(self, message: Perform) -> tuple[Task, Any]:
        """:meth:`begin` for an agent with several tasks in flight on one thread (a role
        on Ray): the attempt's span (``None`` with tracing off) is not made current; end it
        with :func:`end_detached`."""
        task, span = message.task, None
        tracer = HOOKS.attempts
        if tracer is not None:
            task, span = tracer.open(task, self.name)
        return self._lease(message, task), span

    def _lease(self, message: Perform, task: Task) -> Task:
        counts = self._counts
        queued_at = message.queued_at
        if counts is not None and queued_at:
            # OwnedSeries.observe, inlined: this runs once per task on every agent.
            wait = _monotonic() - queued_at
            counts[_bisect_left(self._bounds, wait)] += 1
            counts[-1] += wait
        timeout = message.timeout
        timers = self._timers
        if timeout is None or timers is None:
            return task
        expired = LeaseExpired(task.task_id, task.attempt, self.name)
        ref = self._orchestrator
        timers.call_later(timeout, lambda: ref.tell(expired))
        return msgspec.structs.replace(task, deadline=time.time() + timeout)

    def done(self, message: Perform, output: Any, started: float) -> None:
        """The agent returned ``output``: validate it here and report it."""
        seconds = time.perf_counter() - started
        checked, tags = judge_output(message, output)
        task = message.task
        _ended("invalid_output" if isinstance(checked, Feedback) else "ok", None)
        self.tell(TaskDone(task.task_id, task.attempt, self.name, checked, tags, seconds))

    def failed(self, message: Perform, exc: BaseException, started: float, *, fatal: bool) -> None:
        """The agent raised ``exc``: invalid output, unrecoverable, or a failure to retry."""
        seconds = time.perf_counter() - started
        task = message.task
        if isinstance(exc, OutputInvalid):
            feedback = invalid_feedback(message, exc)
            _ended("invalid_output", str(exc))
            self.tell(TaskDone(task.task_id, task.attempt, self.name, feedback, [], seconds))
            return
        error = f"{type(exc).__name__}: {exc}"
        _ended("fatal" if fatal else "failed", error)
        unrecoverable = isinstance(exc, Unrecoverable)
        self.tell(
            TaskFailed(
                task.task_id,
                task.attempt,
                self.name,
                error,
                seconds,
                fatal=fatal,
                unrecoverable=unrecoverable,
            )
        )

    def tell(self, message: Any) -> None:
        """Tell the orchestrator; a runtime that closed meanwhile (a hung agent) is gone,
        and the store still holds the task for next time."""
        # (A bare try: contextlib.suppress costs 40 times as much, once per task.)
        try:  # noqa: SIM105
            self._orchestrator.tell(message)
        except pykka.ActorDeadError:
            pass
