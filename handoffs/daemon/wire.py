"""The HTTP API's types: every request and response body, as msgspec Structs.

Both sides use them: the daemon decodes requests and encodes responses with them, the CLI
client decodes responses with them, and ``/openapi.json`` is generated from them. Request
types come from outside, so unknown fields are errors (a misspelt ``feedbak`` must not be
silently dropped); response types are read by clients that may be older or newer, so they
only ever gain fields with defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from handoffs.messages import (
    ID_PATTERN,
    NAME_PATTERN,
    Escalation,
    Event,
    Feedback,
    Handoff,
    Id,
    Name,
    QualityMarkers,
    ResolutionAction,
    Run,
    RunState,
)

if TYPE_CHECKING:
    from handoffs.actors.pipelines import Pipelines

__all__ = [
    "ID_WHOLE",
    "MAX_BODY_BYTES",
    "MAX_INPUT_DEPTH",
    "MAX_REASON_CHARS",
    "MAX_SEQ",
    "NAME_WHOLE",
    "ArtifactList",
    "CancelRequest",
    "ErrorBody",
    "ErrorDetail",
    "EscalationList",
    "EventList",
    "HandoffView",
    "Health",
    "ResolveRequest",
    "RunDetail",
    "RunList",
    "RunSummary",
    "SubmitRequest",
    "SubmitResponse",
    "handoff_view",
    "run_detail",
    "run_summary",
]

#: Request bodies larger than this get 413.
MAX_BODY_BYTES = 1 << 20
#: How deeply a run's input may nest (objects and arrays); deeper input gets 400.
MAX_INPUT_DEPTH = 32
#: The longest reason a cancel request may give (the runtime keeps no more).
MAX_REASON_CHARS = 2_000

#: The largest journal sequence number a request may name (the store keys it in 8 bytes).
MAX_SEQ = (1 << 63) - 1
# Python's ``$`` also matches before a trailing newline, so ``"run-...\n"`` would pass an id
# check. The lookahead refuses it and reads the same in JSON Schema's (ECMA 262) dialect,
# where ``$`` is the end already.
#: An id, whole (``handoffs.messages.ID_PATTERN`` with no trailing newline).
ID_WHOLE = ID_PATTERN + r"(?!\n)"
#: A name, whole (``handoffs.messages.NAME_PATTERN`` with no trailing newline).
NAME_WHOLE = NAME_PATTERN + r"(?!\n)"

Text = Annotated[str, msgspec.Meta(max_length=20_000)]
RunInput = Annotated[dict[str, Any], msgspec.Meta(max_length=10_000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_CHARS)]


# ----------------------------------------------------------------- requests


class SubmitRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/runs``: start a run of ``pipeline`` on ``input`` (a JSON object)."""

    pipeline: Annotated[str, msgspec.Meta(pattern=NAME_WHOLE)]
    input: RunInput = {}


class ResolveRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/escalations/{id}/resolve``: a person's decision, with optional feedback."""

    action: ResolutionAction
    feedback: Text | None = None
    #: "Edit and approve" (with ``approve`` only): the person's own output for the stage in
    #: question, checked against its contract (an error names the field).
    output: dict[str, Any] | None = None


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/runs/{id}/cancel``: end a running or escalated run, saying why. The body is
    optional; without one (or without ``reason``) the run's reason is ``cancelled``."""

    reason: Reason | None = None


# ----------------------------------------------------------------- responses


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    """What went wrong: a stable ``code``, a message for people, and the offending field
    (a JSON path such as ``$.input`` for body fields, the name of a query parameter, path
    parameter or header otherwise). ``state`` is the run's state, only for ``run_finished``
    (a cancel of a run that already ended)."""

    code: str
    message: str
    field: str | None = None
    state: str | msgspec.UnsetType = msgspec.UNSET


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every 4xx and 5xx response body."""

    error: ErrorDetail


class SubmitResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The run a submission started (201) or, for a repeated idempotency key, found (200)."""

    run_id: Id
    state: RunState


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A run as listed: where it is and how it got there, without its input."""

    run_id: Id
    pipeline: Name
    state: RunState
    stage: Name | None = None
    revisions: dict[str, int] = {}
    attempts: dict[str, int] = {}
    handoff_count: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    reason: str | None = None
    escalation_id: Id | None = None


class HandoffView(msgspec.Struct, frozen=True, kw_only=True):
    """One handoff record: metadata always, ``payload`` (the contract instance) on request."""

    id: Id
    run_id: Id
    pipeline: Name
    stage: Name
    kind: Name
    outcome: str
    revision: int = 0
    attempt: int = 1
    produced_by: str = ""
    next_action: str = ""
    quality: QualityMarkers = QualityMarkers()
    feedback: list[Feedback] = []
    tags: list[str] = []
    parents: list[str] = []
    created_at: float = 0.0
    #: In a map branch (``for_each``): the item (0-based) this output is for.
    item: int | None = None
    #: The branch of the stage in the running config, named after the stage that starts it
    #: (``None``: not in a branch, or the stage is no longer in the config).
    branch: str | None = None
    payload: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class RunDetail(RunSummary, frozen=True, kw_only=True):
    """One run: its summary, its input, and its handoffs in the order they were committed."""

    input: dict[str, Any] = {}
    idempotency_key: str | None = None
    trigger_artifact: Id | None = None
    latest: dict[str, str] = {}
    handoffs: list[HandoffView] = []


class RunList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of runs, oldest first; pass ``cursor`` back for the next page."""

    items: list[RunSummary]
    cursor: str | None = None


class EscalationList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of escalations, oldest first."""

    items: list[Escalation]
    cursor: str | None = None


class ArtifactList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of handoff records, oldest first."""

    items: list[HandoffView]
    cursor: str | None = None


class EventList(msgspec.Struct, frozen=True, kw_only=True):
    """Journal events after the requested position. ``position``: where to ask next (after
    the last event given). ``end``: the position after the newest committed event.
    ``last_seq``: the newest committed seq (on a sharded daemon, the events committed over
    all shards; each event's ``seq`` is its own shard's, and positions say one per shard)."""

    events: list[Event]
    last_seq: int
    position: str = "0"
    end: str = "0"


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """``ok``, or ``degraded`` with the reasons (a role down, the runtime closing)."""

    status: Literal["ok", "degraded"]
    reasons: list[str] = []


# ----------------------------------------------------------------- conversions


def run_summary(run: Run) -> RunSummary:
    """The listing view of a stored run."""
    return RunSummary(
        run_id=run.run_id,
        pipeline=run.pipeline,
        state=run.state,
        stage=run.stage,
        revisions=dict(run.revisions),
        attempts=dict(run.attempts),
        handoff_count=run.handoffs,
        created_at=run.created_at,
        updated_at=run.updated_at,
        reason=run.reason,
        escalation_id=run.escalation_id,
    )


def run_detail(run: Run, handoffs: list[HandoffView]) -> RunDetail:
    """The full view of a stored run with its handoff timeline."""
    return RunDetail(
        **msgspec.structs.asdict(run_summary(run)),
        input=run.input,
        idempotency_key=run.idempotency_key,
        trigger_artifact=run.trigger_artifact,
        latest=dict(run.latest),
        handoffs=handoffs,
    )


def handoff_view(
    handoff: Handoff, *, payload: bool, pipelines: Pipelines | None = None
) -> HandoffView:
    """The API view of a handoff record; ``payload`` decodes the stored contract instance;
    ``pipelines`` (the running config's) say which branch its stage is in."""
    stage = None if pipelines is None else pipelines.stages.get((handoff.pipeline, handoff.stage))
    body: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    if payload:
        decoded = msgspec.msgpack.decode(handoff.payload)
        body = decoded if isinstance(decoded, dict) else {"value": decoded}
    return HandoffView(
        id=handoff.id,
        run_id=handoff.run_id,
        pipeline=handoff.pipeline,
        stage=handoff.stage,
        kind=handoff.kind,
        outcome=handoff.outcome,
        revision=handoff.revision,
        attempt=handoff.attempt,
        produced_by=handoff.produced_by,
        next_action=handoff.next_action,
        quality=handoff.quality,
        feedback=list(handoff.feedback),
        tags=list(handoff.tags),
        parents=list(handoff.parents),
        created_at=handoff.created_at,
        item=handoff.item,
        branch=None if stage is None else stage.branch,
        payload=body,
    )
