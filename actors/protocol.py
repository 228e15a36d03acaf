"""The messages actors tell each other. In-memory only: never encoded, never persisted.

Replies travel in ``pykka.Future`` fields, set by the orchestrator after the commit that
makes the answer true (a plain ``ask`` would answer before the group commit).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pykka
from handoffs.actors.checks import ValidOutput
from handoffs.actors.handle import AgentHandle
from handoffs.messages import Feedback, ResolutionAction, Task

__all__ = [
    "ActorExited",
    "ActorStarted",
    "Cancel",
    "CommitDone",
    "Drain",
    "HealthEvent",
    "LeaseExpired",
    "OrchestratorMessage",
    "Perform",
    "QueueExpired",
    "Redispatch",
    "Resolve",
    "Resume",
    "RoleDown",
    "RoleUp",
    "Submit",
    "TaskDone",
    "TaskFailed",
]


class Perform(msgspec.Struct, frozen=True, tag=True):
    """Orchestrator -> agent: run this task; its output must be a ``contract`` (named
    ``contract_name``), which the agent actor checks on its own thread.

    ``timeout`` is the stage's lease: it starts when the agent starts the task, which sets
    ``task.deadline`` then. ``queued_at`` (monotonic) is when the task became ready to run:
    the time until it starts is queue time, not agent time.
    """

    task: Task
    contract: type[msgspec.Struct]
    contract_name: str
    timeout: float | None = None
    queued_at: float = 0.0
    max_bytes: int = 1 << 20


class TaskDone(msgspec.Struct, frozen=True, tag=True):
    """Agent -> orchestrator: the agent returned. ``checked`` is its output validated
    against the contract (decoded, and encoded once), or the validator's feedback."""

    task_id: str
    attempt: int
    actor: str
    checked: ValidOutput | Feedback
    tags: list[str]
    seconds: float


class TaskFailed(msgspec.Struct, frozen=True, tag=True):
    """Agent -> orchestrator: the agent raised. ``fatal``: it was a BaseException and the
    actor is stopping (the supervisor restarts it). ``unrecoverable``: the agent said a retry
    cannot help (``Unrecoverable``): the run escalates at once."""

    task_id: str
    attempt: int
    actor: str
    error: str
    seconds: float
    fatal: bool = False
    unrecoverable: bool = False


class Submit(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: start a run; ``reply`` gets ``(run_id, created)``."""

    pipeline: str
    input: dict[str, Any]
    idempotency_key: str | None
    digest: str
    reply: pykka.Future[Any]


class Resolve(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: a person's decision; ``reply`` gets the resolved Escalation."""

    escalation_id: str
    action: ResolutionAction
    feedback: str | None
    reply: pykka.Future[Any] | None


class Cancel(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: end the run ``cancelled`` now, withdrawing its tasks;
    ``reply`` gets the cancelled ``Run`` once that is committed."""

    run_id: str
    reason: str
    reply: pykka.Future[Any] | None


class Redispatch(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: a retry's backoff has passed; dispatch ``attempt`` now."""

    task_id: str
    attempt: int


class LeaseExpired(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: ``attempt`` of the task overran its stage's deadline."""

    task_id: str
    attempt: int


class QueueExpired(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: ``attempt`` of the task waited its stage's ``queue_timeout``
    for a free agent (it matters only if it is still waiting)."""

    task_id: str
    attempt: int


class ActorStarted(msgspec.Struct, frozen=True, tag=True):
    """Supervisor -> orchestrator: a (re)started agent actor can take tasks through
    ``handle`` (up to ``handle.capacity`` at once)."""

    role: str
    index: int
    handle: AgentHandle
    name: str


class ActorExited(msgspec.Struct, frozen=True, tag=True):
    """Agent/supervisor -> orchestrator and supervisor: an agent actor stopped.

    ``abnormal`` when it died (BaseException, failed setup); tasks sent to it and not
    answered are dispatched again.
    """

    role: str
    index: int
    actor: str
    abnormal: bool
    reason: str = ""


class RoleDown(msgspec.Struct, frozen=True, tag=True):
    """Supervisor -> orchestrator: the role exceeded its restart intensity."""

    role: str
    reason: str


class RoleUp(msgspec.Struct, frozen=True, tag=True):
    """Supervisor -> orchestrator: a person brought the role back; ``reply`` is set once the
    runs escalated for it are resumed (committed)."""

    role: str
    reply: pykka.Future[Any] | None = None


class HealthEvent(msgspec.Struct, frozen=True, tag=True):
    """Orchestrator -> supervisor: a revision, escalation, task failure or stale result.

    The supervisor keeps these counts (and their metrics) beside the restarts: it is the
    runtime's health keeper.
    """

    kind: Literal["revision", "escalation", "failure", "stale"]
    pipeline: str = ""
    stage: str = ""
    role: str = ""
    run_id: str = ""
    reason: str = ""


class CommitDone(msgspec.Struct, frozen=True, tag=True):
    """Committer -> orchestrator: the group handed over last is committed (or failed)."""

    error: BaseException | None = None


class Resume(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: start dispatching (it was opened paused)."""


class Drain(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: stop dispatching; ``reply`` is set when nothing is in flight."""

    reply: pykka.Future[Any]


OrchestratorMessage = (
    TaskDone
    | TaskFailed
    | CommitDone
    | Submit
    | Resolve
    | Cancel
    | Redispatch
    | LeaseExpired
    | QueueExpired
    | ActorStarted
    | ActorExited
    | RoleDown
    | RoleUp
    | Drain
    | Resume
)
