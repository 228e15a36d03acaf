"""What the orchestrator holds in memory, shared by the modules that make up its behaviour.

The orchestrator is one actor split by concern: ``results`` (what an agent's answer leads
to), ``requests`` (submit, resolve, roles going down and up), ``transitions`` (runs and tasks
changing state, as store batches), and ``orchestrator`` (mailbox, group commit, dispatch).
Each is a mixin over this state; everything runs on the orchestrator's own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.metrics import RuntimeMetrics, Tally
from handoffs.actors.pipelines import Pipelines
from handoffs.actors.protocol import OrchestratorMessage
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.messages import (
    QualityMarkers,
    Run,
    TaskRecord,
)
from handoffs.store import Store

__all__ = ["LiveTask", "OrchestratorState", "render_instruction"]

#: "No limit" for store listings that must see everything (recovery, role resumption).
_ALL = 1 << 62


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_instruction(template: str, values: dict[str, Any]) -> str:
    """The stage's instruction with the run input filled in; unknown fields stay ``{field}``."""
    if "{" not in template:
        return template
    try:
        return template.format_map(_Missing(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


class LiveTask:
    """A task the orchestrator is responsible for (running or ready in the store)."""

    __slots__ = ("avoid", "queued_at", "record", "slot")

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        #: When this attempt became ready to run (monotonic; 0.0: not yet): queue time.
        self.queued_at = 0.0
        #: The actor holding it now; ``None`` while it waits (queue, backoff) or is decided.
        self.slot: Slot | None = None
        #: The actor it timed out on: a retry goes elsewhere when it can.
        self.avoid: Slot | None = None


class OrchestratorState:
    """The orchestrator's memory, and the hooks its parts call on each other."""

    _store: Store
    _pipelines: Pipelines
    _metrics: RuntimeMetrics
    _timers: Timers
    _waiters: RunWaiters
    supervisor: pykka.ActorRef[Any] | None
    _dispatcher: Dispatcher
    _slots_by_name: dict[str, Slot]
    #: Active runs (running or escalated), as last decided (committed or in this flush).
    _runs: dict[str, Run]
    _live: dict[str, LiveTask]
    #: Decoded outputs of active runs: what downstream tasks receive as inputs.
    _payloads: dict[str, tuple[Any, QualityMarkers]]
    #: Effects that must wait for the commit (dispatch, replies, metrics, wake-ups).
    _after: list[Callable[[], None]]
    #: What the open group adds to the metrics, and whether it settles a run (wake waiters).
    _tally: Tally
    _settles: bool
    #: Idempotency keys of runs decided but maybe not committed yet.
    _staged_keys: dict[str, tuple[str, str]]
    _open_keys: list[str]
    stale: int

    def _dispatch(self, live: LiveTask) -> None:
        raise NotImplementedError

    def _dispatch_later(self, live: LiveTask, delay: float) -> None:
        raise NotImplementedError

    def _pump(self, role: str) -> None:
        raise NotImplementedError

    def _can_mark(self, role: str) -> bool:
        raise NotImplementedError

    def _reserve(self, live: LiveTask) -> None:
        raise NotImplementedError

    def _check_drained(self) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _decide_one(self, message: OrchestratorMessage) -> None:
        raise NotImplementedError

    def _health(self, kind: str, **fields: str) -> None:
        raise NotImplementedError
