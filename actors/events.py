"""The events the decider decides: what agents, callers, timers and the supervisor tell the
orchestrator. Pure data (no pykka at run time: a reply is typed as a pykka ``Future`` only for
the type checker), so the decider and the simulator use them without threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec
from handoffs.actors.checks import ValidOutput
from handoffs.messages import Feedback, ResolutionAction

if TYPE_CHECKING:
    from pykka import Future

__all__ = [
    "ApprovalExpired",
    "Cancel",
    "DeciderEvent",
    "HealthEvent",
    "LeaseExpired",
    "QueueExpired",
    "Resolve",
    "RoleDown",
    "RoleUp",
    "Submit",
    "TaskDone",
    "TaskFailed",
]


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
    reply: Future[Any]


class Resolve(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: a person's decision; ``reply`` gets the resolved Escalation."""

    escalation_id: str
    action: ResolutionAction
    feedback: str | None
    reply: Future[Any] | None
    #: "Edit and approve": the person's own output for the stage in question (approve only),
    #: validated against its contract by the caller.
    output: ValidOutput | None = None


class ApprovalExpired(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: a stage people review waited its ``timeout`` for a person
    (it matters only if the approval is still open)."""

    escalation_id: str


class Cancel(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: end the run ``cancelled`` now, withdrawing its tasks;
    ``reply`` gets the cancelled ``Run`` once that is committed."""

    run_id: str
    reason: str
    reply: Future[Any] | None


class LeaseExpired(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: ``attempt`` of the task overran its stage's deadline on the
    agent ``actor`` (which started the lease when it started the task)."""

    task_id: str
    attempt: int
    actor: str = ""


class QueueExpired(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: ``attempt`` of the task waited its stage's ``queue_timeout``
    for a free agent (it matters only if it is still waiting)."""

    task_id: str
    attempt: int


class RoleDown(msgspec.Struct, frozen=True, tag=True):
    """Supervisor -> orchestrator: the role exceeded its restart intensity."""

    role: str
    reason: str


class RoleUp(msgspec.Struct, frozen=True, tag=True):
    """Supervisor -> orchestrator: a person brought the role back; ``reply`` is set once the
    runs escalated for it are resumed (committed)."""

    role: str
    reply: Future[Any] | None = None


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


#: Everything the decider decides (each yields one ``Decision``).
DeciderEvent = (
    TaskDone
    | TaskFailed
    | Submit
    | Resolve
    | Cancel
    | LeaseExpired
    | QueueExpired
    | RoleDown
    | RoleUp
    | ApprovalExpired
)
