"""What the decider returns for one event, and what it needs from the shell.

A :class:`Decision` is data: the records to write (a store ``Batch``, itself plain encoded
records), the effects the shell performs once that batch is durable, the reply to the caller
and the metric tallies. The decider reads the committed store through :class:`StoreReader`
and asks the shell's :class:`Capacity` whether an agent can take a task right after the
commit; both are plain calls into memory (the simulator implements them too).

Pure: nothing here imports pykka or lmdb, reads a clock or starts a thread.
"""

from __future__ import annotations

from typing import Any, Protocol

from handoffs.actors.events import HealthEvent
from handoffs.messages import Escalation, Handoff, Run, TaskRecord
from handoffs.store.batch import Batch, IdempotencyRecord

__all__ = [
    "Capacity",
    "Decision",
    "Effect",
    "Health",
    "Later",
    "LiveTask",
    "Queue",
    "Start",
    "StoreReader",
    "Withdraw",
    "render_instruction",
]


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_instruction(template: str, values: dict[str, Any]) -> str:
    """The stage's instruction with the run input filled in; unknown fields stay ``{field}``."""
    if "{" not in template:
        return template
    try:
        return template.format_map(_Missing(values))
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return template


class LiveTask:
    """A task that is ready or running: its record as last decided, and what the shell
    notes about it (the decider never reads ``slot``, ``avoid`` or ``queued_at``)."""

    __slots__ = ("avoid", "queued_at", "record", "slot")

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        #: Shell: when this attempt became ready to run (monotonic; 0.0: not yet).
        self.queued_at = 0.0
        #: Shell: the agent holding it now (``None`` while it waits or is decided).
        self.slot: Any = None
        #: Shell: the agent it timed out on (a retry goes elsewhere when it can).
        self.avoid: Any = None


class Start:
    """After the commit: dispatch ``live`` (written ``running``; room was reserved)."""

    __match_args__ = ("live",)
    __slots__ = ("live",)

    def __init__(self, live: LiveTask) -> None:
        self.live = live


class Queue:
    """After the commit: ``live`` (written ``ready``) waits for room, after ``delay`` s."""

    __match_args__ = ("live", "delay")
    __slots__ = ("delay", "live")

    def __init__(self, live: LiveTask, delay: float = 0.0) -> None:
        self.live = live
        self.delay = delay


class Withdraw:
    """After the commit: the agent holding ``live`` (if one does) drops or cancels it."""

    __match_args__ = ("live",)
    __slots__ = ("live",)

    def __init__(self, live: LiveTask) -> None:
        self.live = live


class Health:
    """After the commit: tell the supervisor (the health keeper) ``event``."""

    __match_args__ = ("event",)
    __slots__ = ("event",)

    def __init__(self, event: HealthEvent) -> None:
        self.event = event


class Later:
    """After the commit: decide ``event`` again in ``delay`` seconds (a timer)."""

    __match_args__ = ("event", "delay")
    __slots__ = ("delay", "event")

    def __init__(self, event: Any, delay: float) -> None:
        self.event = event
        self.delay = delay


Effect = Start | Queue | Withdraw | Health | Later


class Decision:
    """The outcome of one event. The shell commits ``batch`` (with the other decisions of
    its group), then performs ``effects`` in order, answers the caller with ``reply`` and
    adds the tallies to the metrics. A decision whose group fails to commit is void."""

    __slots__ = (
        "batch",
        "durations",
        "effects",
        "escalations",
        "handoffs",
        "key",
        "now",
        "reply",
        "run_revisions",
        "run_states",
        "settles",
    )

    def __init__(self, now: float) -> None:
        #: The event's time (wall clock, from the shell): every record written says it.
        self.now = now
        self.batch = Batch(check=False)
        self.effects: list[Effect] = []
        self.reply: Any = None
        #: Handoffs recorded, by (pipeline, stage, outcome).
        self.handoffs: list[tuple[str, str, str]] = []
        #: Agent time per answered task: (pipeline, stage, seconds).
        self.durations: list[tuple[str, str, float]] = []
        #: Runs moving between states: (before, after); ``None`` before: a new run.
        self.run_states: list[tuple[str | None, str]] = []
        #: Revisions of each run that ended.
        self.run_revisions: list[int] = []
        #: Escalations opened (+1) and resolved (-1).
        self.escalations = 0
        #: A run ended or escalated: the shell wakes whoever waits for runs.
        self.settles = False
        #: The idempotency key this decision binds (not committed yet).
        self.key: str | None = None


class Capacity(Protocol):
    """The shell's agents, as the decider sees them."""

    def reserve(self, role: str) -> bool:
        """Whether an agent of ``role`` can take one more task right after this commit; if
        so, that room is held for it until the ``Start`` effect (or the decision is void)."""

    def release(self, role: str) -> None:
        """Give back room ``reserve`` held (the decision that held it is void)."""


class StoreReader(Protocol):
    """The committed knowledge base, read-only: what the decider does not keep in memory."""

    def get_run(self, run_id: str) -> Run | None: ...

    def get_artifact(self, artifact_id: str) -> Handoff | None: ...

    def get_escalation(self, escalation_id: str) -> Escalation | None: ...

    def get_idempotency(self, key: str) -> IdempotencyRecord | None: ...

    def run_handoffs(self, run_id: str) -> list[Handoff]: ...
