"""The messages actors tell each other. In-memory only: never encoded, never persisted.

Replies travel in ``pykka.Future`` fields, set by the orchestrator after the commit that
makes the answer true (a plain ``ask`` would answer before the group commit).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pykka
from handoffs.actors.events import (
    ApprovalExpired,
    Cancel,
    HealthEvent,
    LeaseExpired,
    QueueExpired,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.handle import AgentHandle
from handoffs.messages import Task

__all__ = [
    "ActorExited",
    "ActorStarted",
    "ApprovalExpired",
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


class Redispatch(msgspec.Struct, frozen=True, tag=True):
    """Timer -> orchestrator: a retry's backoff has passed; dispatch ``attempt`` now."""

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


class CommitDone(msgspec.Struct, frozen=True, tag=True):
    """Committer -> orchestrator: the group handed over last is committed (or failed)."""

    error: BaseException | None = None


class Resume(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: start dispatching (it was opened paused)."""


class Drain(msgspec.Struct, frozen=True, tag=True):
    """Runtime -> orchestrator: stop dispatching; ``reply`` is set when nothing is in flight."""

    reply: pykka.Future[Any]


OrchestratorMessage = (
    ApprovalExpired
    | TaskDone
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
