"""Pipeline state as stored: runs, task records, escalations and journal events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from handoffs.messages.handoff import NonNegative, Positive
from handoffs.messages.ids import Id, IdempotencyKey, Name
from handoffs.messages.quality import Feedback, ShortText, Text

__all__ = [
    "TERMINAL_RUN_STATES",
    "Escalation",
    "EscalationReason",
    "EscalationState",
    "Event",
    "Resolution",
    "ResolutionAction",
    "Run",
    "RunState",
    "TaskRecord",
    "TaskState",
]

RunState = Literal["running", "completed", "escalated", "failed", "cancelled"]
TERMINAL_RUN_STATES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
TaskState = Literal["ready", "running", "done"]
EscalationReason = Literal[
    "revisions_exhausted",
    "retries_exhausted",
    "invalid_output",
    "role_down",
    "unrecoverable",
    "queue_timeout",
    "approval",
    "approval_timeout",
]
EscalationState = Literal["open", "resolved"]
ResolutionAction = Literal["approve", "revise", "cancel"]


class Run(msgspec.Struct, frozen=True, kw_only=True):
    """One pipeline instance working on one input.

    ``outputs[stage]`` counts the handoffs that stage recorded (so the next one's revision
    number); ``revisions[stage]`` counts how many times the stage was sent back (by a review,
    a gate or a person); ``attempts[stage]`` is the attempt of its current or last task.
    ``latest[stage]`` is the id of that stage's latest accepted handoff: what downstream
    tasks receive as inputs.
    """

    run_id: Id
    pipeline: Name
    state: RunState = "running"
    stage: Name | None = None
    input: dict[str, Any] = {}
    revisions: dict[Name, NonNegative] = {}
    outputs: dict[Name, NonNegative] = {}
    attempts: dict[Name, NonNegative] = {}
    latest: dict[Name, Id] = {}
    #: Per-stage revision limits raised by a person ("revise" grants one more cycle).
    limits: dict[Name, NonNegative] = {}
    created_at: float = 0.0
    updated_at: float = 0.0
    idempotency_key: IdempotencyKey | None = None
    reason: Text | None = None
    escalation_id: Id | None = None
    handoffs: NonNegative = 0
    #: The artifact that started this run, when a trigger started it.
    trigger_artifact: Id | None = None
    #: The version (a content hash of the stage graph) of the pipeline the run started with.
    pipeline_version: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    #: Per join stage, the branches that reached it so far (a stage, or ``stage:item``).
    arrived: dict[Name, list[Name]] = {}
    #: Join stages that started (a branch reaching one later ends there).
    joined: list[Name] = []
    #: Per map stage (``for_each``), how many items it runs for.
    items: dict[Name, NonNegative] = {}


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The durable state of one task: the store is the truth, mailboxes only a doorbell.

    ``ready`` tasks wait for dispatch (``not_before`` delays a retry); ``running`` tasks were
    handed to an agent at ``attempt`` and are due back by ``lease_deadline``.
    """

    task_id: Id
    run_id: Id
    pipeline: Name
    stage: Name
    role: Name
    state: TaskState = "ready"
    revision: NonNegative = 0
    attempt: Positive = 1
    feedback: list[Feedback] = []
    lease_deadline: float | None = None
    not_before: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_error: Text | None = None
    #: In a map branch: which item of the list (0-based), and the item itself.
    item: NonNegative | None = None
    item_value: Any = None


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    """What a person decided about an escalation."""

    action: ResolutionAction
    feedback: Text | None = None
    at: float = 0.0


class Escalation(msgspec.Struct, frozen=True, kw_only=True):
    """A run that needs a person. It stays open, visible, until resolved.

    ``retry_stage`` is what "revise" (or "approve" when there is no output to accept) runs
    again; ``approve_stage`` is where "approve" continues (``None``: the run completes);
    ``artifact_id`` is the last output, the one "approve" accepts.
    """

    id: Id
    run_id: Id
    pipeline: Name
    stage: Name
    reason: EscalationReason
    summary: Text
    state: EscalationState = "open"
    created_at: float = 0.0
    retry_stage: Name | None = None
    approve_stage: Name | None = None
    artifact_id: Id | None = None
    #: In a map branch: the item whose stage escalated.
    item: NonNegative | None = None
    feedback: Annotated[list[Feedback], msgspec.Meta(max_length=100)] = []
    history: Annotated[list[Id], msgspec.Meta(max_length=10_000)] = []
    resolution: Resolution | None = None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One journal entry. ``seq`` is monotonic per store: tail with ``after=seq``."""

    seq: NonNegative
    at: float
    type: ShortText
    run_id: Id | None = None
    pipeline: Name | None = None
    stage: Name | None = None
    task_id: Id | None = None
    artifact_id: Id | None = None
    attempt: Positive | None = None
    detail: Text = ""
