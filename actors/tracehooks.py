"""Where tracing plugs into the agent side and the committer, without OpenTelemetry.

:func:`handoffs.tracing.enable` installs a tracer in :data:`HOOKS`; with none installed (the
default) an agent reads one attribute per task, and the committer one per commit, and goes
on. The ids are derived from the run's id, so every part of the runtime (an agent's
thread, the committer, a log line) names the same trace for a run without passing it
around, and a restarted daemon keeps adding to the trace it began.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from handoffs.messages import Task
from handoffs.store import Batch, Store

__all__ = [
    "CURRENT_TASK",
    "HOOKS",
    "AttemptTracer",
    "CommitTracer",
    "Hooks",
    "handoff_span_id",
    "run_span_id",
    "run_trace_id",
    "trace_id_hex",
]

#: The task an agent is working on in this thread (or coroutine): log lines about a run.
CURRENT_TASK: contextvars.ContextVar[Task | None] = contextvars.ContextVar(
    "handoffs_current_task", default=None
)


class AttemptTracer(Protocol):
    """Spans for task attempts, on the agent's side (its thread or its coroutine)."""

    def begin(self, task: Task, agent: str) -> Task:
        """The agent ``agent`` starts ``task`` now: the task to hand it (its trace context
        filled in). The attempt's span is current until :meth:`end`."""
        ...

    def end(self, outcome: str, error: str | None) -> None:
        """The attempt begun last in this thread or coroutine ended with ``outcome``."""
        ...

    def open(self, task: Task, agent: str) -> tuple[Task, Any]:
        """Like :meth:`begin` for an agent that keeps several attempts in flight on one
        thread (a role on Ray): the span is not made current. Returns the task to hand on
        and the span, which :meth:`close` ends."""
        ...

    def close(self, span: Any, outcome: str, error: str | None) -> None:
        """End an attempt :meth:`open` began, with ``outcome``."""
        ...


class CommitTracer(Protocol):
    """Spans for commits, and for what they made durable (handoffs, finished runs)."""

    def commit(
        self, store: Store, batches: Sequence[Batch], applied: Callable[[], None] | None
    ) -> None:
        """``store.commit(batches, applied=applied)`` inside a span; raises what it raises."""
        ...


class Hooks:
    """The installed tracers (``None``: tracing off)."""

    __slots__ = ("attempts", "commits")

    def __init__(self) -> None:
        self.attempts: AttemptTracer | None = None
        self.commits: CommitTracer | None = None


#: The process's tracers: tracing, like OpenTelemetry's own provider, is process-wide.
HOOKS = Hooks()


def _digest(data: str, size: int) -> int:
    # blake2b: stable across processes and versions (hash() is salted per process).
    value = int.from_bytes(hashlib.blake2b(data.encode(), digest_size=size).digest(), "big")
    return value or 1  # all zeros is the invalid id


def run_trace_id(run_id: str) -> int:
    """The 128-bit trace id of run ``run_id``'s trace."""
    return _digest(run_id, 16)


def run_span_id(run_id: str) -> int:
    """The 64-bit span id of the run's own span, the parent of its attempts and handoffs."""
    return _digest("run " + run_id, 8)


def handoff_span_id(handoff_id: str) -> int:
    """The 64-bit span id of a handoff's span (what its children's links point at)."""
    return _digest("handoff " + handoff_id, 8)


def trace_id_hex(run_id: str) -> str:
    """The run's trace id as W3C trace context and tracing backends print it."""
    return f"{run_trace_id(run_id):032x}"
