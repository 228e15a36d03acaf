"""The handoff record (written when a stage completes) and the task an agent receives."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from handoffs.messages.ids import Id, Name
from handoffs.messages.quality import Feedback, QualityMarkers, ShortText, Text

__all__ = ["Handoff", "Result", "Task"]

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class Handoff(msgspec.Struct, frozen=True, kw_only=True):
    """One completed stage's output as stored in the knowledge base: the audit trail of a run.

    ``payload`` holds the contract instance already encoded as msgpack, so an artifact is
    encoded exactly once; decode it with the contract named by ``kind``.
    """

    id: Id
    run_id: Id
    pipeline: Name
    stage: Name
    kind: Name
    next_action: Text
    produced_by: ShortText
    quality: QualityMarkers = QualityMarkers()
    revision: NonNegative = 0
    attempt: Positive = 1
    created_at: float = 0.0
    parents: Annotated[list[Id], msgspec.Meta(max_length=100)] = []
    tags: Annotated[list[Name], msgspec.Meta(max_length=32)] = []
    #: What the pipeline did with this output: "accepted", "rejected" (a review said no), or
    #: "gate_failed" (a quality gate sent it back).
    outcome: Name = "accepted"
    #: In a map branch: the item (0-based) this output is for.
    item: NonNegative | None = None
    feedback: Annotated[list[Feedback], msgspec.Meta(max_length=100)] = []
    payload: msgspec.Raw = msgspec.Raw(b"\xc0")


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """What an agent receives: everything it needs, and never who produced its inputs.

    ``inputs`` maps each upstream stage of this run to its latest output, decoded into its
    contract type, and ``quality`` to that output's quality markers (how far to trust it).
    ``input`` is the run's own input. ``feedback`` is non-empty when this is a
    revision or a retry after invalid output.
    """

    task_id: Id
    run_id: Id
    pipeline: Name
    stage: Name
    instruction: Text
    input: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    quality: dict[str, QualityMarkers] = {}
    feedback: list[Feedback] = []
    revision: NonNegative = 0
    attempt: Positive = 1
    deadline: float | None = None
    #: W3C trace context (``traceparent``, ``tracestate``) of this attempt's span when
    #: tracing is on (``handoffs.tracing``), else empty: an agent's own spans (model and
    #: HTTP calls) continue it, also in another process.
    trace_context: dict[str, str] = {}
    #: In a map branch (``for_each``): this task's item and its index in the list.
    item: Any = None
    item_index: NonNegative | None = None


class Result(msgspec.Struct, frozen=True):
    """What an agent may return instead of a bare contract instance, to attach quality markers.

    Example::

        return Result(Draft(title=..., body=...), quality=QualityMarkers(confidence=0.9))
    """

    output: Any
    quality: QualityMarkers = QualityMarkers()
    tags: list[str] = []
