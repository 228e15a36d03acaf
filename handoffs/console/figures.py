"""The health page's figures: roles and their state, work in flight, open escalations,
handoffs per minute over the last minutes (from the journal's tail), revisions, and the runs
bouncing most (the supervisor keeps those).
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec

from handoffs.daemon.host import Host, tail_of

__all__ = ["CHART_MINUTES", "TAIL_EVENTS", "health_figures", "per_minute"]

#: Minutes the handoff chart covers.
CHART_MINUTES: Final = 10
#: Journal events read back for the chart (a bound, so the page costs the same at any age).
TAIL_EVENTS: Final = 5000
_BAR_WIDTH: Final = 24
_CHART_HEIGHT: Final = 60


class _Stamp(msgspec.Struct, frozen=True):
    """The journal fields the chart needs (decoding only these is cheaper)."""

    seq: int
    at: float
    type: str


def per_minute(stamps: list[tuple[float, str]], now: float, minutes: int) -> list[int]:
    """Handoffs recorded in each of the last ``minutes`` minutes, oldest first."""
    counts = [0] * minutes
    for at, kind in stamps:
        age = int((now - at) // 60)
        if kind == "handoff.recorded" and 0 <= age < minutes:
            counts[minutes - 1 - age] += 1
    return counts


def _bars(counts: list[int]) -> list[dict[str, int]]:
    """SVG bar geometry (attributes only: the CSP allows no inline style)."""
    top = max(counts) or 1
    bars = []
    for i, count in enumerate(counts):
        height = round(count / top * _CHART_HEIGHT)
        bars.append(
            {
                "x": i * _BAR_WIDTH,
                "y": _CHART_HEIGHT - height,
                "width": _BAR_WIDTH - 4,
                "height": height,
                "count": count,
            }
        )
    return bars


def health_figures(runtime: Host) -> dict[str, Any]:
    """Everything the health page shows."""
    ok, reasons = runtime.health()
    stats = runtime.statistics()
    tail = tail_of(runtime).recent(TAIL_EVENTS, _Stamp)
    counts = per_minute([(e.at, e.type) for e in tail], time.time(), CHART_MINUTES)
    return {
        "ok": ok,
        "reasons": reasons,
        "roles": stats.supervisor.roles,
        "inflight": stats.orchestrator.inflight,
        "waiting": stats.orchestrator.waiting,
        "active_runs": stats.orchestrator.active_runs,
        "runs_by_state": stats.runs,
        "escalations_open": stats.escalations_open,
        "revisions": stats.supervisor.revisions,
        "top_runs": stats.supervisor.top_runs[:10],
        "per_minute": counts,
        "last_minute": counts[-1],
        "bars": _bars(counts),
        "chart_width": CHART_MINUTES * _BAR_WIDTH,
        "chart_height": _CHART_HEIGHT,
    }
